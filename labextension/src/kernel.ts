/**
 * The studio's kernel: one session shared by every page, its widget manager, and
 * the rendermime the pages render with.
 *
 * Pages share one kernel (see README.md): the studio's panels are views over the
 * workspace, so one Python process with studio_ext imported once serves them all.
 * When the kernel restarts or is replaced, the old widget manager is dropped, a new
 * one is made, and `reset` tells the pages to render again.
 */
import * as base from '@jupyter-widgets/base';
import type { IWidgetRegistryData } from '@jupyter-widgets/base';
import {
  KernelWidgetManager,
  WidgetRenderer,
  output
} from '@jupyter-widgets/jupyterlab-manager';
import { JUPYTER_CONTROLS_VERSION } from '@jupyter-widgets/controls/lib/version';
import { SessionContext } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IChangedArgs } from '@jupyterlab/coreutils';
import { Kernel, ServiceManager, Session } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { widgetModules } from './registry';

const WIDGET_VIEW_MIMETYPE = 'application/vnd.jupyter.widget-view+json';
/** The session path: fixed, so a reload (or a second browser tab) reuses the kernel. */
export const SESSION_PATH = 'studio-ext-sidebar';

/**
 * The kernel's state as the pages show it.
 * - `starting`: no kernel yet (first start, or started again after a shutdown)
 * - `ready`: a kernel and a fresh widget manager; pages can render
 * - `restarting`: the kernel restarts; the widgets on screen are dead
 * - `dead`: the kernel died or was shut down and nobody restarts it
 */
export type StudioKernelState = 'starting' | 'ready' | 'restarting' | 'dead';

export interface IStudioKernelOptions {
  serviceManager: ServiceManager.IManager;
  /** The application's rendermime; cloned when the kernel is ready (mime plugins active). */
  rendermime: IRenderMimeRegistry;
  kernelName: string;
}

export class StudioKernel implements IDisposable {
  constructor(options: IStudioKernelOptions) {
    this._appRendermime = options.rendermime;
    this._sessions = options.serviceManager.sessions;
    this.kernelName = options.kernelName;
    this.sessionContext = new SessionContext({
      sessionManager: options.serviceManager.sessions,
      specsManager: options.serviceManager.kernelspecs,
      kernelManager: options.serviceManager.kernels,
      path: SESSION_PATH,
      name: 'Studio',
      type: 'studio-ext',
      kernelPreference: {
        name: options.kernelName,
        shouldStart: true,
        canStart: true
      }
    });
    this.sessionContext.statusChanged.connect(this._onStatus, this);
    this.sessionContext.connectionStatusChanged.connect(
      this._onConnectionStatus,
      this
    );
    this.sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    this.sessionContext.sessionChanged.connect(this._onSessionChanged, this);
    widgetModules.added.connect(this._onWidgetModule, this);
  }

  readonly sessionContext: SessionContext;
  readonly kernelName: string;

  get state(): StudioKernelState {
    return this._state;
  }

  /** Emitted when the state changes. */
  get stateChanged(): ISignal<this, StudioKernelState> {
    return this._stateChanged;
  }

  /**
   * Emitted when a new widget manager is ready. ``restarted``: it replaced one (the
   * kernel restarted or was replaced), so the widgets on screen are gone.
   */
  get managerReady(): ISignal<this, { restarted: boolean }> {
    return this._managerReady;
  }

  /** The rendermime bound to the current widget manager (null until ready). */
  get rendermime(): IRenderMimeRegistry | null {
    return this._rendermime;
  }

  get manager(): KernelWidgetManager | null {
    return this._manager;
  }

  /** Start (or join) the kernel once; resolves when the pages can render. */
  async ready(): Promise<void> {
    if (!this._initialized) {
      this._initialized = true;
      try {
        await this.sessionContext.initialize();
        if (!this.sessionContext.session?.kernel) {
          throw new Error(
            `no kernel "${this.kernelName}" could be started. Set "Kernel" in ` +
              'Settings → Studio to a kernel that has studio_ext installed.'
          );
        }
      } catch (error) {
        this._initialized = false; // the next page or "Restart kernel" tries again
        this._setState('dead');
        throw error;
      }
      void this._connectWhenAnswering();
    }
    await this._ready.promise;
  }

  /** Restart the kernel (or start one if it died); every page renders again. */
  async restart(): Promise<void> {
    if (!this._initialized) {
      await this.ready();
      return;
    }
    const kernel = this.sessionContext.session?.kernel;
    if (kernel && !kernel.isDisposed && kernel.status !== 'dead') {
      await this.sessionContext.restartKernel();
      return;
    }
    // A dead kernel cannot restart. Ask the server which sessions exist first: if
    // ours is still there it gets a new kernel, if it was shut down a new one starts.
    this._setState('starting');
    await this._sessions.refreshRunning();
    if (this.sessionContext.session) {
      await this.sessionContext.changeKernel({ name: this.kernelName });
    } else {
      await this.sessionContext.startKernel();
    }
  }

  /** Run code silently (no output, no history), for housekeeping such as closing widgets. */
  runSilently(code: string): void {
    const kernel = this.sessionContext.session?.kernel;
    if (kernel && this._state === 'ready') {
      kernel.requestExecute({ code, silent: true, store_history: false });
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._dropManager();
    this.sessionContext.dispose();
    Signal.clearData(this);
  }

  // Kernel status from iopub is not a readiness signal: the server does not track
  // the status messages of kernel_info requests, so a fresh kernel stays 'unknown'
  // until it executes something. Readiness is a kernel_info round trip instead.
  private _onStatus(_: unknown, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      this._dropManager();
      this._setState('restarting');
    } else if (status === 'dead') {
      this._dropManager();
      this._setState('dead');
    }
  }

  private _onConnectionStatus(
    _: unknown,
    status: Kernel.ConnectionStatus
  ): void {
    // After a restart the connection is re-made to the new kernel process.
    if (status === 'connected' && this._state === 'restarting') {
      void this._connectWhenAnswering();
    }
  }

  private _onKernelChanged(
    _: unknown,
    args: Session.ISessionConnection.IKernelChangedArgs
  ): void {
    if (!args.oldValue && !args.newValue) {
      return; // a kernel is being started: the next change brings it
    }
    this._dropManager();
    if (args.newValue) {
      this._setState('starting');
      void this._connectWhenAnswering();
    } else {
      this._setState('dead');
    }
  }

  private _onSessionChanged(
    _: unknown,
    args: IChangedArgs<
      Session.ISessionConnection | null,
      Session.ISessionConnection | null,
      'session'
    >
  ): void {
    if (args.oldValue && !args.newValue) {
      // The session was shut down (from the Running panel, another tab, the REST API).
      this._dropManager();
      this._setState('dead');
    }
  }

  /** Once the current kernel answers a kernel_info request, make its widget manager. */
  private async _connectWhenAnswering(): Promise<void> {
    const kernel = this.sessionContext.session?.kernel;
    if (!kernel || this._manager || this._isDisposed) {
      return;
    }
    const generation = ++this._generation;
    try {
      if (this._state === 'restarting') {
        await kernel.requestKernelInfo();
      } else {
        await kernel.info;
      }
    } catch {
      return; // not connected yet: the next 'connected' tries again
    }
    if (
      generation !== this._generation ||
      this._manager ||
      this._isDisposed ||
      kernel.isDisposed ||
      kernel !== this.sessionContext.session?.kernel
    ) {
      return;
    }
    this._makeManager(kernel);
  }

  private _makeManager(kernel: Kernel.IKernelConnection): void {
    const rendermime = this._appRendermime.clone();
    const manager = new StudioWidgetManager(kernel, rendermime);
    this._registered = new Set();
    for (const data of builtinWidgetModules()) {
      this._register(manager, data);
    }
    for (const data of widgetModules.modules) {
      this._register(manager, data);
    }
    rendermime.removeMimeType(WIDGET_VIEW_MIMETYPE);
    rendermime.addFactory(
      {
        safe: false,
        mimeTypes: [WIDGET_VIEW_MIMETYPE],
        createRenderer: options => new WidgetRenderer(options, manager)
      },
      -10
    );
    this._manager = manager;
    this._rendermime = rendermime;
    const restarted = this._everReady;
    this._everReady = true;
    this._setState('ready');
    this._ready.resolve();
    this._managerReady.emit({ restarted });
  }

  private _dropManager(): void {
    this._generation++;
    if (this._state === 'ready') {
      this._ready = new PromiseDelegate<void>();
    }
    const manager = this._manager;
    this._manager = null;
    this._rendermime = null;
    if (manager && !manager.isDisposed) {
      // Mark every model offline first, so that views removed afterwards do not try
      // to sync with a kernel that is gone (disconnect() does so in microtasks).
      manager.disconnect();
      manager.dispose();
    }
  }

  private _onWidgetModule(_: unknown, data: IWidgetRegistryData): void {
    if (this._manager) {
      this._register(this._manager, data);
    }
  }

  private _register(
    manager: StudioWidgetManager,
    data: IWidgetRegistryData
  ): void {
    const key = `${data.name}@${data.version}`;
    if (this._registered.has(key)) {
      return;
    }
    this._registered.add(key);
    manager.register(data);
  }

  private _setState(state: StudioKernelState): void {
    if (this._state !== state) {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private _appRendermime: IRenderMimeRegistry;
  private _sessions: Session.IManager;
  private _rendermime: IRenderMimeRegistry | null = null;
  private _manager: StudioWidgetManager | null = null;
  private _registered = new Set<string>();
  private _state: StudioKernelState = 'starting';
  private _initialized = false;
  private _generation = 0;
  private _everReady = false;
  private _isDisposed = false;
  private _ready = new PromiseDelegate<void>();
  private _stateChanged = new Signal<this, StudioKernelState>(this);
  private _managerReady = new Signal<this, { restarted: boolean }>(this);
}

/**
 * A KernelWidgetManager that does not load every widget model alive in the kernel.
 *
 * Pages are rebuilt, never restored from the kernel: the models other windows (or
 * earlier loads of this one) created there have no view here, and loading them all
 * costs time and memory (a FigureWidget carries plotly.js, about 5 MB).
 *
 * This relies on KernelWidgetManager's internals (restoring through the overridable
 * `restoreWidgets()`, on construction and on reconnection; `_restoredStatus` and
 * `_restored` backing `restoredStatus` and `restored`, which WidgetRenderer reads):
 * src/__tests__/kernel.spec.ts checks them against a real kernel.
 */
export class StudioWidgetManager extends KernelWidgetManager {
  async restoreWidgets(): Promise<void> {
    this._restoredStatus = true;
    this._restored.emit();
  }
}

/**
 * The modules of ipywidgets itself, registered on every manager we make, so the
 * panels' controls render even if the registry plugin could not be wrapped.
 */
export function builtinWidgetModules(): IWidgetRegistryData[] {
  return [
    {
      name: '@jupyter-widgets/base',
      version: base.JUPYTER_WIDGETS_VERSION,
      exports: {
        WidgetModel: base.WidgetModel,
        WidgetView: base.WidgetView,
        DOMWidgetView: base.DOMWidgetView,
        DOMWidgetModel: base.DOMWidgetModel,
        LayoutModel: base.LayoutModel,
        LayoutView: base.LayoutView,
        StyleModel: base.StyleModel,
        StyleView: base.StyleView,
        ErrorWidgetView: base.ErrorWidgetView
      }
    },
    {
      name: '@jupyter-widgets/controls',
      version: JUPYTER_CONTROLS_VERSION,
      exports: () => import('@jupyter-widgets/controls') as any
    },
    {
      name: '@jupyter-widgets/output',
      version: output.OUTPUT_WIDGET_VERSION,
      exports: {
        OutputModel: output.OutputModel,
        OutputView: output.OutputView
      }
    }
  ];
}
