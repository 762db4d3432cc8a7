/**
 * studio-ext: the Azure ML studio's pages in JupyterLab.
 *
 * A left-sidebar "Studio" tab lists the pages the Python package registers
 * (studio_ext.panels.PAGES, read through the server extension), shows the workspace
 * in use with a live summary, and opens each page in the main area, where the
 * kernel-side ipywidgets panel renders (see kernel.ts and page.ts).
 */
// First: wraps the widget registry plugin before any plugin is registered.
import { widgetModules } from './registry';

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { PromiseDelegate, UUID } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import {
  IPageInfo,
  IWorkspaceInfo,
  fetchDefaultWorkspace,
  fetchPages,
  fetchSummary,
  openWorkspace
} from './api';
import { StudioKernel, StudioKernelState } from './kernel';
import { IRunLink, JOBS_PAGE, runLinkFrom, withoutRunLink } from './link';
import { StudioPage, describe } from './page';
import { StudioSidebar } from './sidebar';

const PLUGIN_ID = 'studio-ext:plugin';
const SIDEBAR_ID = 'studio-ext-sidebar';
/** `JupyterFrontEnd.name` of a Voila dashboard page. */
const VOILA_APP_NAME = 'Voila';

namespace CommandIDs {
  export const open = 'studio-ext:open';
  export const restartKernel = 'studio-ext:restart-kernel';
  export const showSidebar = 'studio-ext:show-sidebar';
  export const openWorkspace = 'studio-ext:open-workspace';
}

export const studioIcon = new LabIcon({
  name: 'studio-ext:studio',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<path class="jp-icon3" fill="#616161" d="M9 2h6v2h-1v5.2l5.6 9.3A2 2 0 0 1 17.9 21H6.1' +
    'a2 2 0 0 1-1.7-2.5L10 9.2V4H9z"/></svg>'
});

type StudioPageWidget = MainAreaWidget<StudioPage>;

interface IStudioSettings {
  workspacePath: string;
  kernelName: string;
  summaryInterval: number;
}

const DEFAULT_SETTINGS: IStudioSettings = {
  workspacePath: '',
  kernelName: 'python3',
  summaryInterval: 15
};

/**
 * The studio in this browser window: the sidebar, the open pages, the workspace
 * they show, and the one kernel they render in.
 */
class Studio {
  constructor(
    private readonly _app: JupyterFrontEnd,
    private readonly _rendermime: IRenderMimeRegistry,
    readonly tracker: WidgetTracker<StudioPageWidget>
  ) {
    this.sidebar = new StudioSidebar({
      openPage: page => void this.openPage(page.id, page.title),
      switchWorkspace: path => this.switchWorkspace(path),
      refresh: () => {
        void this.refreshPages();
        void this.refreshSummary();
      }
    });
    this.sidebar.id = SIDEBAR_ID;
    this.sidebar.title.icon = studioIcon;
    this.sidebar.title.caption = 'Studio';
    this.sidebar.shown.connect(() => void this.refreshSummary());
  }

  readonly sidebar: StudioSidebar;
  settings: ISettingRegistry.ISettings | null = null;
  pages: IPageInfo[] = [];

  get config(): IStudioSettings {
    if (!this.settings) {
      return { ...DEFAULT_SETTINGS, ...this._localConfig };
    }
    return {
      workspacePath: String(this.settings.composite.workspacePath ?? ''),
      kernelName: String(
        this.settings.composite.kernelName || DEFAULT_SETTINGS.kernelName
      ),
      summaryInterval: Number(this.settings.composite.summaryInterval ?? 15)
    };
  }

  /** The kernel, started on the first page opened (loading JupyterLab starts none). */
  get kernel(): StudioKernel {
    if (!this._kernel) {
      this._kernel = new StudioKernel({
        serviceManager: this._app.serviceManager,
        rendermime: this._rendermime,
        kernelName: this.config.kernelName
      });
    }
    return this._kernel;
  }

  async refreshPages(): Promise<void> {
    try {
      this.pages = await fetchPages();
      this.sidebar.setPages(this.pages);
      for (const page of this.pages) {
        const widget = this._open.get(page.id);
        if (widget && !widget.isDisposed) {
          widget.content.pageTitle = page.title;
          widget.title.label = page.title;
        }
      }
    } catch (error) {
      this.sidebar.setPages(
        this.pages,
        `Could not list the pages: ${describe(error)}`
      );
    }
  }

  /** Find the workspace the settings name (or the server's default) and show it. */
  async resolveWorkspace(): Promise<void> {
    const configured = this.config.workspacePath.trim();
    let workspace: IWorkspaceInfo | null = null;
    let error: string | undefined;
    try {
      const path = configured || (await fetchDefaultWorkspace()).path;
      workspace = await openWorkspace(path);
    } catch (reason) {
      error = describe(reason);
    }
    this._workspace = workspace;
    this.sidebar.setWorkspace(workspace, configured, error);
    for (const widget of this._open.values()) {
      widget.content.setWorkspace(workspace);
      this._updateToolbarWorkspace(widget);
    }
    this._workspaceResolved.resolve();
    await this.refreshSummary();
  }

  /** Switch workspace ('' = back to the default); refuses a folder that is not one. */
  async switchWorkspace(path: string): Promise<void> {
    if (path) {
      await openWorkspace(path); // throws with the server's explanation
    }
    let saved = false;
    if (this.settings) {
      try {
        await this.settings.set('workspacePath', path);
        saved = true;
      } catch (error) {
        console.warn(
          'studio-ext: the workspace setting could not be saved.',
          error
        );
      }
    }
    if (!saved) {
      this.settings = null;
      this._localConfig.workspacePath = path;
    }
    this._appliedWorkspaceSetting = path;
    await this.resolveWorkspace();
  }

  async refreshSummary(): Promise<void> {
    const workspace = this._workspace;
    if (!workspace) {
      this.sidebar.setSummary(null);
      return;
    }
    try {
      const summary = await fetchSummary(workspace.path);
      if (this._workspace?.path === workspace.path) {
        this.sidebar.setSummary(summary);
      }
    } catch (error) {
      this.sidebar.setSummary(null, `Summary unavailable: ${describe(error)}`);
    }
  }

  onSettingsChanged(): void {
    const configured = this.config.workspacePath.trim();
    if (configured !== this._appliedWorkspaceSetting) {
      this._appliedWorkspaceSetting = configured;
      void this.resolveWorkspace();
    }
    this._scheduleSummary();
  }

  /**
   * Open a page in the main area, or bring its tab to the front if it is open.
   * `options` (keyword arguments for the panel) build an open page again with them.
   */
  openPage(
    pageId: string,
    title?: string,
    options?: Record<string, string>
  ): StudioPageWidget {
    const open = this._open.get(pageId);
    if (open && !open.isDisposed) {
      this._app.shell.activateById(open.id);
      if (options) {
        open.content.setOptions(options);
      }
      return open;
    }
    const pageTitle =
      title ?? this.pages.find(p => p.id === pageId)?.title ?? pageId;
    const content = new StudioPage({
      pageId,
      title: pageTitle,
      kernel: this.kernel,
      workspace: this._workspace,
      clientId: this._clientId,
      options
    });
    const widget = new MainAreaWidget<StudioPage>({ content });
    widget.id = `studio-ext-page-${pageId.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    widget.addClass('jp-StudioPageWidget');
    widget.title.label = pageTitle;
    widget.title.icon = studioIcon;
    widget.title.closable = true;
    this._addToolbar(widget);
    this._open.set(pageId, widget);
    widget.disposed.connect(() => {
      if (this._open.get(pageId) === widget) {
        this._open.delete(pageId);
      }
    });
    void this.tracker.add(widget);
    this._app.shell.add(widget, 'main');
    this._app.shell.activateById(widget.id);
    // Not awaited: the layout restorer runs this command before JupyterLab is
    // restored, and the workspace is resolved only after that.
    void this._workspaceResolved.promise.then(() => {
      if (!content.isDisposed) {
        content.setWorkspace(this._workspace);
        void content.render();
      }
    });
    return widget;
  }

  /**
   * Open the run a link names (a job's studio_url): the Jobs page with its details,
   * in the link's workspace (switched to first when another one is shown).
   */
  async openRunLink(link: IRunLink): Promise<StudioPageWidget> {
    await this._workspaceResolved.promise;
    if (link.workspace && link.workspace !== this._workspace?.path) {
      try {
        await this.switchWorkspace(link.workspace);
      } catch (error) {
        console.warn(
          `studio-ext: the run's workspace ${link.workspace} could not be opened; ` +
            'showing the run in the current one.',
          error
        );
      }
    }
    return this.openPage(JOBS_PAGE, undefined, { run: link.run });
  }

  async restartKernel(): Promise<void> {
    await this.kernel.restart();
  }

  /** Close this window's panels in the shared kernel (best effort, when the window goes). */
  closeAllPanels(): void {
    if (!this._kernel) {
      return;
    }
    const prefix = JSON.stringify(`${this._clientId}:`);
    this._kernel.runSilently(
      'for _studio_ext_k in [k for k in globals().get("_studio_ext_pages", {}) ' +
        `if k.startswith(${prefix})]:\n` +
        '    _studio_ext_p = _studio_ext_pages.pop(_studio_ext_k)\n' +
        '    if hasattr(_studio_ext_p, "close"):\n' +
        '        _studio_ext_p.close()\n'
    );
  }

  private _addToolbar(widget: StudioPageWidget): void {
    const workspaceLabel = new Widget();
    workspaceLabel.addClass('jp-StudioPage-toolbarWorkspace');
    widget.toolbar.addItem('workspace', workspaceLabel);
    this._toolbarWorkspace.set(widget, workspaceLabel);
    this._updateToolbarWorkspace(widget);
    widget.toolbar.addItem(
      'spacer',
      (() => {
        const spacer = new Widget();
        spacer.addClass('jp-Toolbar-spacer');
        return spacer;
      })()
    );
    widget.toolbar.addItem(
      'reload',
      new ToolbarButton({
        className: 'jp-StudioPage-reload',
        label: 'Reload page',
        tooltip: 'Build this page again in the kernel',
        onClick: () => void widget.content.render()
      })
    );
    widget.toolbar.addItem(
      'restart',
      new ToolbarButton({
        className: 'jp-StudioPage-restart',
        label: 'Restart kernel',
        tooltip: 'Restart the studio kernel; every open studio page is rebuilt',
        onClick: () => void this.restartKernel()
      })
    );
    const status = new Widget();
    status.addClass('jp-StudioPage-kernelState');
    const showState = (_: unknown, state: StudioKernelState) => {
      status.node.textContent = `Kernel: ${state}`;
      status.node.dataset.state = state;
    };
    showState(null, this.kernel.state);
    this.kernel.stateChanged.connect(showState, status);
    widget.toolbar.addItem('kernelState', status);
    widget.disposed.connect(() => this._toolbarWorkspace.delete(widget));
  }

  private _updateToolbarWorkspace(widget: StudioPageWidget): void {
    const label = this._toolbarWorkspace.get(widget);
    if (label) {
      const ws = this._workspace;
      label.node.textContent = ws ? `Workspace: ${ws.name}` : 'No workspace';
      label.node.title = ws ? ws.path : '';
    }
  }

  private _scheduleSummary(): void {
    const seconds = this.config.summaryInterval;
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
    if (seconds > 0) {
      this._timer = window.setInterval(() => {
        if (this.sidebar.isVisible && document.visibilityState === 'visible') {
          void this.refreshSummary();
        }
      }, seconds * 1000);
    }
  }

  private _kernel: StudioKernel | null = null;
  private _workspace: IWorkspaceInfo | null = null;
  private _workspaceResolved = new PromiseDelegate<void>();
  private _appliedWorkspaceSetting: string | null = null;
  private _localConfig: Partial<IStudioSettings> = {};
  private _open = new Map<string, StudioPageWidget>();
  private _toolbarWorkspace = new Map<StudioPageWidget, Widget>();
  private _clientId = UUID.uuid4();
  private _timer: number | null = null;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'The Studio sidebar: the pages of studio_ext, rendered from kernel-side ipywidgets panels.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [ISettingRegistry, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    settingRegistry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    if (app.name === VOILA_APP_NAME) {
      // Voila loads every installed extension into a dashboard, which has no
      // sidebar and (standalone) no studio-ext REST API: stay out of the way.
      return;
    }
    if (!widgetModules.wrapped) {
      console.warn(
        'studio-ext: the widget registry could not be wrapped; ' +
          'widget libraries other than ipywidgets may not render in studio pages.'
      );
    }
    const tracker = new WidgetTracker<StudioPageWidget>({
      namespace: 'studio-ext'
    });
    const studio = new Studio(app, rendermime, tracker);
    const { commands } = app;
    // Read now: JupyterLab's router may rewrite the URL once it has started.
    const runLink = runLinkFrom(window.location.search);

    commands.addCommand(CommandIDs.open, {
      label: args => {
        const id = args.page as string | undefined;
        const page = studio.pages.find(p => p.id === id);
        return page ? `Open Studio Page: ${page.title}` : 'Open Studio Page';
      },
      caption: 'Open a page of the studio in the main area',
      icon: args => (args.page ? studioIcon : undefined),
      execute: args => {
        const id = args.page as string | undefined;
        if (!id) {
          throw new Error(
            'studio-ext:open needs a "page" argument (a page id).'
          );
        }
        return studio.openPage(id, args.title as string | undefined);
      }
    });
    commands.addCommand(CommandIDs.restartKernel, {
      label: 'Restart Studio Kernel',
      caption:
        'Restart the kernel the studio pages run in; open pages are rebuilt',
      execute: () => studio.restartKernel()
    });
    commands.addCommand(CommandIDs.showSidebar, {
      label: 'Show Studio Sidebar',
      execute: () => app.shell.activateById(SIDEBAR_ID)
    });
    commands.addCommand(CommandIDs.openWorkspace, {
      label: 'Open Studio Workspace',
      execute: args => studio.switchWorkspace(String(args.path ?? ''))
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.showSidebar, category: 'Studio' });
      palette.addItem({
        command: CommandIDs.restartKernel,
        category: 'Studio'
      });
    }

    app.shell.add(studio.sidebar, 'left', { rank: 250 });
    window.addEventListener('beforeunload', () => studio.closeAllPanels());
    if (restorer) {
      restorer.add(studio.sidebar, SIDEBAR_ID);
      void restorer.restore(tracker, {
        command: CommandIDs.open,
        args: widget => ({
          page: widget.content.pageId,
          title: widget.content.pageTitle
        }),
        name: widget => widget.content.pageId
      });
    }

    const addPagesToPalette = (() => {
      const added = new Set<string>();
      return () => {
        for (const page of studio.pages) {
          if (palette && !added.has(page.id)) {
            added.add(page.id);
            palette.addItem({
              command: CommandIDs.open,
              args: { page: page.id },
              category: 'Studio'
            });
          }
        }
      };
    })();

    const start = async () => {
      if (settingRegistry) {
        try {
          studio.settings = await settingRegistry.load(PLUGIN_ID);
          studio.settings.changed.connect(() => studio.onSettingsChanged());
        } catch (error) {
          console.warn(
            'studio-ext: settings could not be loaded; using defaults.',
            error
          );
        }
      }
      studio.onSettingsChanged();
      await studio.refreshPages();
      addPagesToPalette();
      if (runLink) {
        const url = new URL(window.location.href);
        window.history.replaceState(
          window.history.state,
          '',
          url.pathname + withoutRunLink(url.search) + url.hash
        );
        await studio.openRunLink(runLink);
      }
    };
    void app.restored.then(start);
  }
};

export default plugin;
