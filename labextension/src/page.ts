/**
 * A studio page in the main area: the kernel-side panel of one page id, rendered
 * in an OutputArea by running `display(open_page(id, workspace))` in the studio kernel.
 */
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { Panel, Widget } from '@lumino/widgets';

import { IWorkspaceInfo } from './api';
import { StudioKernel, StudioKernelState } from './kernel';
import { pyKeywords } from './link';
import { plotlyWidgetModuleUrl, preloadWidgetModules } from './widgetModules';

/** What the page shows above the panel. */
export type NoticeKind = 'info' | 'warning' | 'error';

/** The page's render state, on `data-render-state` (read by the browser tests too). */
export type RenderState = 'waiting' | 'running' | 'done' | 'error' | 'stopped';

export interface IStudioPageOptions {
  pageId: string;
  title: string;
  kernel: StudioKernel;
  workspace: IWorkspaceInfo | null;
  /** Distinguishes this browser window's panels from other windows' in the shared kernel. */
  clientId: string;
  /** Keyword arguments for the panel, e.g. `{run: NAME}` for the Jobs page. */
  options?: Record<string, string>;
}

/** A Python string literal for any JS string (a JSON string is one). */
function pyString(value: string): string {
  return JSON.stringify(value);
}

export class StudioPage extends Panel {
  constructor(options: IStudioPageOptions) {
    super();
    this.pageId = options.pageId;
    this._title = options.title;
    this._kernel = options.kernel;
    this._workspace = options.workspace;
    this._key = `${options.clientId}:${options.pageId}`;
    this._options = { ...(options.options ?? {}) };
    this.addClass('jp-StudioPage');
    this.node.dataset.studioPage = options.pageId;
    this._notice = new Widget();
    this._notice.addClass('jp-StudioPage-notice');
    this._notice.hide();
    this.addWidget(this._notice);
    this._setRenderState('waiting');
    this._kernel.stateChanged.connect(this._onKernelState, this);
    this._kernel.managerReady.connect(this._onManagerReady, this);
  }

  readonly pageId: string;

  get pageTitle(): string {
    return this._title;
  }

  set pageTitle(value: string) {
    this._title = value;
  }

  get workspace(): IWorkspaceInfo | null {
    return this._workspace;
  }

  /** The panel's keyword arguments (e.g. the run the Jobs page opens). */
  get pageOptions(): Record<string, string> {
    return { ...this._options };
  }

  /** Build the panel again with these options (at once if it is shown already). */
  setOptions(options: Record<string, string>): void {
    this._options = { ...options };
    if (this._attempt > 0) {
      void this.render();
    }
  }

  /** Show the page for another workspace (renders again if it changed). */
  setWorkspace(workspace: IWorkspaceInfo | null): void {
    if (workspace?.path === this._workspace?.path) {
      return;
    }
    this._workspace = workspace;
    if (this._attempt > 0) {
      void this.render(); // shown already: show the new workspace
    }
  }

  /** Build the panel again in the kernel and show it. */
  async render(): Promise<void> {
    const attempt = ++this._attempt;
    const workspace = this._workspace;
    if (!workspace) {
      this._clearOutput();
      this._setRenderState('error');
      this.showNotice(
        'error',
        'No workspace is open. Choose one in the Studio sidebar.'
      );
      return;
    }
    this._setRenderState('waiting');
    if (this._kernel.state !== 'ready') {
      this.showNotice('info', 'Starting the studio kernel…');
    }
    this._awaitingKernel = true;
    try {
      await this._kernel.ready();
    } catch (error) {
      if (attempt === this._attempt) {
        this._setRenderState('error');
        this.showNotice(
          'error',
          `The studio kernel could not start: ${describe(error)}`,
          true
        );
      }
      return;
    } finally {
      if (attempt === this._attempt) {
        this._awaitingKernel = false;
      }
    }
    const rendermime = this._kernel.rendermime;
    if (attempt !== this._attempt || this.isDisposed || !rendermime) {
      return;
    }
    this._clearOutput();
    const area = new OutputArea({
      model: new OutputAreaModel({ trusted: true }),
      rendermime
    });
    area.addClass('jp-StudioPage-output');
    this._output = area;
    this.addWidget(area);
    this._setRenderState('running');
    if (this._pendingNotice) {
      this.showNotice(this._pendingNotice.kind, this._pendingNotice.text);
      this._pendingNotice = null;
    } else if (this._noticeKind !== 'warning') {
      this.showNotice('info', `Loading ${this._title}…`);
    }
    await preloadWidgetModules();
    if (attempt !== this._attempt || this.isDisposed) {
      return;
    }
    try {
      const reply = await OutputArea.execute(
        this._code(workspace.path),
        area,
        this._kernel.sessionContext
      );
      if (attempt !== this._attempt || this.isDisposed) {
        return;
      }
      if (reply && reply.content.status === 'ok') {
        this._renders += 1;
        this.node.dataset.renderCount = String(this._renders);
        this._setRenderState('done');
        if (this._noticeKind === 'info' && !this._keepNotice) {
          this.hideNotice();
        }
        this._keepNotice = false;
      } else {
        this._setRenderState('error');
        this.showNotice(
          'error',
          `${this._title} could not be built; the error is below.`
        );
      }
    } catch (error) {
      if (attempt !== this._attempt || this.isDisposed) {
        return;
      }
      if (this._kernel.state === 'ready') {
        this._setRenderState('error');
        this.showNotice(
          'error',
          `${this._title} could not be built: ${describe(error)}`
        );
      }
      // Otherwise the kernel went away mid-run; its state handler says so.
    }
  }

  showNotice(kind: NoticeKind, text: string, withRestart = false): void {
    const node = this._notice.node;
    node.textContent = '';
    node.dataset.kind = kind;
    this._noticeKind = kind;
    const message = document.createElement('span');
    message.className = 'jp-StudioPage-noticeText';
    message.textContent = text;
    node.appendChild(message);
    if (withRestart) {
      const button = document.createElement('button');
      button.className =
        'jp-Button jp-mod-styled jp-mod-accept jp-StudioPage-noticeRestart';
      button.textContent = 'Restart kernel';
      button.onclick = () => {
        void this._kernel.restart();
      };
      node.appendChild(button);
    }
    this._notice.show();
  }

  hideNotice(): void {
    this._noticeKind = null;
    this._notice.hide();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    // Close this window's panel in the kernel so its widgets do not pile up there.
    this._kernel.runSilently(
      `_studio_ext_p = globals().get("_studio_ext_pages", {}).pop(${pyString(this._key)}, None)\n` +
        'if _studio_ext_p is not None and hasattr(_studio_ext_p, "close"):\n' +
        '    _studio_ext_p.close()\n' +
        'del _studio_ext_p\n'
    );
    super.dispose();
  }

  private _code(workspacePath: string): string {
    const key = pyString(this._key);
    return [
      'from IPython.display import display as _studio_ext_display',
      'from studio_ext.panels import open_page as _studio_ext_open_page',
      'from studio_ext.panels.widget_modules import load_plotly_widget_module_from as _studio_ext_plotly_from',
      `_studio_ext_plotly_from(${pyString(plotlyWidgetModuleUrl())})`,
      '_studio_ext_pages = globals().setdefault("_studio_ext_pages", {})',
      `_studio_ext_old = _studio_ext_pages.pop(${key}, None)`,
      'if _studio_ext_old is not None and hasattr(_studio_ext_old, "close"):',
      '    _studio_ext_old.close()',
      'del _studio_ext_old',
      `_studio_ext_pages[${key}] = _studio_ext_open_page(${pyString(this.pageId)}, ${pyString(workspacePath)}${pyKeywords(this._options)})`,
      `_studio_ext_display(_studio_ext_pages[${key}])`
    ].join('\n');
  }

  private _onKernelState(_: StudioKernel, state: StudioKernelState): void {
    switch (state) {
      case 'restarting':
        // The widgets on screen belong to the old kernel: remove them. A render
        // waiting for the kernel is dropped; the new manager renders the page.
        this._attempt++;
        this._awaitingKernel = false;
        this._clearOutput(true);
        this._setRenderState('waiting');
        this.showNotice(
          'warning',
          'The studio kernel is restarting. This page will be rebuilt when it is back.'
        );
        break;
      case 'dead':
        this._attempt++;
        this._awaitingKernel = false;
        this._clearOutput(true);
        this._setRenderState('stopped');
        this.showNotice(
          'error',
          'The studio kernel died or was shut down. Restart it to rebuild this page.',
          true
        );
        break;
      default:
        break;
    }
  }

  private _onManagerReady(_: StudioKernel, args: { restarted: boolean }): void {
    // A render waiting for the kernel goes on by itself; a page not shown yet is
    // rendered by whoever opened it.
    if (this._awaitingKernel || this._attempt === 0) {
      return;
    }
    if (args.restarted) {
      const time = new Date().toLocaleTimeString();
      this._pendingNotice = {
        kind: 'info',
        text: `The studio kernel restarted at ${time}; this page was rebuilt.`
      };
      this._keepNotice = true;
    }
    void this.render();
  }

  /**
   * Remove the panel's output. ``deferred``: after the kernel went away, wait for the
   * widget manager to mark its models offline (it does so in microtasks) first.
   */
  private _clearOutput(deferred = false): void {
    const output = this._output;
    this._output = null;
    if (!output) {
      return;
    }
    if (deferred) {
      output.hide();
      window.setTimeout(() => output.dispose(), 0);
    } else {
      output.dispose();
    }
  }

  private _setRenderState(state: RenderState): void {
    this.node.dataset.renderState = state;
  }

  private _title: string;
  private _options: Record<string, string>;
  private _kernel: StudioKernel;
  private _workspace: IWorkspaceInfo | null;
  private _key: string;
  private _notice: Widget;
  private _noticeKind: NoticeKind | null = null;
  private _pendingNotice: { kind: NoticeKind; text: string } | null = null;
  private _keepNotice = false;
  private _output: OutputArea | null = null;
  private _attempt = 0;
  private _awaitingKernel = false;
  private _renders = 0;
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
