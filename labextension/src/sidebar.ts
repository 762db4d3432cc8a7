/**
 * The left-sidebar "Studio" tab: the workspace in use (and a field to switch it), a
 * live summary of the workspace, and the list of the studio's pages.
 */
import { Widget } from '@lumino/widgets';
import { ISignal, Signal } from '@lumino/signaling';

import { IPageInfo, ISummary, IWorkspaceInfo } from './api';

export interface IStudioSidebarCallbacks {
  /** Open a page in the main area. */
  openPage(page: IPageInfo): void;
  /** Switch to the workspace at a path ('' = the server's default). */
  switchWorkspace(path: string): Promise<void>;
  /** Fetch the summary and the pages again. */
  refresh(): void;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export class StudioSidebar extends Widget {
  constructor(callbacks: IStudioSidebarCallbacks) {
    super();
    this._callbacks = callbacks;
    this.addClass('jp-StudioSidebar');

    const header = element('header', 'jp-StudioSidebar-header');
    header.appendChild(element('h2', 'jp-StudioSidebar-title', 'Studio'));
    const refresh = element(
      'button',
      'jp-Button jp-mod-minimal jp-StudioSidebar-refresh',
      '⟳'
    );
    refresh.title = 'Refresh the summary and the page list';
    refresh.onclick = () => this._callbacks.refresh();
    header.appendChild(refresh);
    this.node.appendChild(header);

    // The workspace in use, and the field to switch it.
    const wsSection = element(
      'section',
      'jp-StudioSidebar-section jp-StudioSidebar-workspace'
    );
    wsSection.appendChild(
      element('h3', 'jp-StudioSidebar-sectionTitle', 'Workspace')
    );
    this._wsName = element('div', 'jp-StudioSidebar-workspaceName', '…');
    this._wsPath = element('div', 'jp-StudioSidebar-workspacePath');
    wsSection.appendChild(this._wsName);
    wsSection.appendChild(this._wsPath);
    const form = element('form', 'jp-StudioSidebar-workspaceForm');
    this._wsInput = element(
      'input',
      'jp-mod-styled jp-StudioSidebar-workspaceInput'
    );
    this._wsInput.type = 'text';
    this._wsInput.placeholder = 'Folder path';
    this._wsInput.title =
      'A workspace folder; leave empty and Open for the default';
    this._wsInput.setAttribute('aria-label', 'Workspace folder');
    const open = element(
      'button',
      'jp-Button jp-mod-styled jp-mod-accept',
      'Open'
    );
    open.type = 'submit';
    form.appendChild(this._wsInput);
    form.appendChild(open);
    form.onsubmit = event => {
      event.preventDefault();
      void this._switch();
    };
    wsSection.appendChild(form);
    this._wsError = element('div', 'jp-StudioSidebar-error');
    wsSection.appendChild(this._wsError);
    this.node.appendChild(wsSection);

    // The live summary.
    const summary = element(
      'section',
      'jp-StudioSidebar-section jp-StudioSidebar-summary'
    );
    summary.appendChild(
      element('h3', 'jp-StudioSidebar-sectionTitle', 'Summary')
    );
    const list = element('dl', 'jp-StudioSidebar-counts');
    this._running = this._count(list, 'Running jobs', 'running-jobs');
    this._queued = this._count(list, 'Queued jobs', 'queued-jobs');
    this._unhealthy = this._count(
      list,
      'Unhealthy endpoints',
      'unhealthy-endpoints'
    );
    this._alerts = this._count(list, 'Monitor alerts', 'monitor-alerts');
    summary.appendChild(list);
    this._summaryError = element('div', 'jp-StudioSidebar-error');
    summary.appendChild(this._summaryError);
    this.node.appendChild(summary);

    // The pages.
    const pages = element(
      'section',
      'jp-StudioSidebar-section jp-StudioSidebar-pagesSection'
    );
    pages.appendChild(element('h3', 'jp-StudioSidebar-sectionTitle', 'Pages'));
    this._pages = element('ul', 'jp-StudioSidebar-pages');
    pages.appendChild(this._pages);
    this.node.appendChild(pages);
  }

  /** Emitted when the sidebar becomes visible (the summary refreshes then). */
  get shown(): ISignal<this, void> {
    return this._shown;
  }

  setWorkspace(
    workspace: IWorkspaceInfo | null,
    configured: string,
    error?: string
  ): void {
    if (workspace) {
      this._wsName.textContent = workspace.name;
      this._wsPath.textContent = workspace.path;
      this._wsPath.title = workspace.path;
      this.node.dataset.workspace = workspace.path;
    } else {
      this._wsName.textContent = 'No workspace';
      this._wsPath.textContent = configured;
      delete this.node.dataset.workspace;
    }
    if (document.activeElement !== this._wsInput) {
      this._wsInput.value = configured;
    }
    this._showError(this._wsError, error);
  }

  setSummary(summary: ISummary | null, error?: string): void {
    const show = (node: HTMLElement, value: number | null) => {
      node.textContent = value === null ? '–' : String(value);
      node.dataset.value = value === null ? '' : String(value);
    };
    show(this._running, summary ? summary.jobs.running : null);
    show(this._queued, summary ? summary.jobs.queued : null);
    show(
      this._unhealthy,
      summary && summary.endpoints.available
        ? summary.endpoints.unhealthy
        : null
    );
    this._unhealthy.classList.toggle(
      'jp-mod-warn',
      !!summary && summary.endpoints.unhealthy > 0
    );
    this._unhealthy.title =
      summary && !summary.endpoints.available
        ? 'This workspace has no endpoint service yet.'
        : '';
    const alerts =
      summary && summary.alerts && summary.alerts.available
        ? summary.alerts.unacknowledged
        : null;
    show(this._alerts, alerts);
    this._alerts.classList.toggle('jp-mod-warn', !!alerts);
    this._alerts.title = alerts === null ? 'No monitors here yet.' : '';
    this._alertCount = alerts ?? 0;
    this._showAlertBadge();
    this._showError(this._summaryError, error);
  }

  /** The unacknowledged-alerts badge on the Monitoring page's button. */
  private _showAlertBadge(): void {
    const button = this._pages.querySelector<HTMLElement>(
      '.jp-StudioSidebar-page[data-page-id="monitoring"]'
    );
    if (!button) {
      return;
    }
    let badge = button.querySelector<HTMLElement>('.jp-StudioSidebar-badge');
    if (!this._alertCount) {
      badge?.remove();
      return;
    }
    if (!badge) {
      badge = element('span', 'jp-StudioSidebar-badge');
      button.appendChild(badge);
    }
    badge.textContent = String(this._alertCount);
    badge.title = `${this._alertCount} monitor alert(s) not yet acknowledged`;
  }

  setPages(pages: IPageInfo[], error?: string): void {
    this._pages.textContent = '';
    for (const page of pages) {
      const item = element('li', 'jp-StudioSidebar-pageItem');
      const button = element('button', 'jp-StudioSidebar-page', page.title);
      button.dataset.pageId = page.id;
      button.title = `Open ${page.title}`;
      button.onclick = () => this._callbacks.openPage(page);
      item.appendChild(button);
      this._pages.appendChild(item);
    }
    if (pages.length === 0 && !error) {
      this._pages.appendChild(
        element('li', 'jp-StudioSidebar-empty', 'No pages yet.')
      );
    }
    if (error) {
      this._pages.appendChild(element('li', 'jp-StudioSidebar-error', error));
    }
    this._showAlertBadge();
  }

  protected onAfterShow(): void {
    this._shown.emit();
  }

  private _count(list: HTMLElement, label: string, id: string): HTMLElement {
    const row = element('div', 'jp-StudioSidebar-count');
    row.appendChild(element('dt', '', label));
    const value = element('dd', 'jp-StudioSidebar-countValue', '–');
    value.dataset.count = id;
    row.appendChild(value);
    list.appendChild(row);
    return value;
  }

  private async _switch(): Promise<void> {
    const path = this._wsInput.value.trim();
    this._showError(this._wsError, undefined);
    this._wsInput.blur();
    try {
      await this._callbacks.switchWorkspace(path);
    } catch (error) {
      this._showError(
        this._wsError,
        error instanceof Error ? error.message : String(error)
      );
    }
  }

  private _showError(node: HTMLElement, error: string | undefined): void {
    node.textContent = error ?? '';
    node.style.display = error ? '' : 'none';
  }

  private _callbacks: IStudioSidebarCallbacks;
  private _wsName: HTMLElement;
  private _wsPath: HTMLElement;
  private _wsInput: HTMLInputElement;
  private _wsError: HTMLElement;
  private _running: HTMLElement;
  private _queued: HTMLElement;
  private _unhealthy: HTMLElement;
  private _alerts: HTMLElement;
  private _alertCount = 0;
  private _summaryError: HTMLElement;
  private _pages: HTMLElement;
  private _shown = new Signal<this, void>(this);
}
