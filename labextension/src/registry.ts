/**
 * Which widget modules (name, version, exports) JupyterLab's widget registry knows.
 *
 * A KernelWidgetManager we create ourselves does not see the registry of
 * `@jupyter-widgets/jupyterlab-manager` (it is private to that package), so a widget
 * library such as anywidget (plotly's FigureWidget) would fail with "No version of
 * module ... is registered". We wrap the registry plugin's `activate` while this
 * module loads: JupyterLab loads every extension module before it registers any
 * plugin, and Lumino copies `activate` at registration, so a patch made later would
 * never run. The wrapped registry forwards every `registerWidget` call unchanged and
 * records it here, whichever order the plugins load in.
 *
 * src/__tests__/registry.spec.ts checks the JupyterLab facts this relies on; the
 * browser test test_figurewidget_renders_through_anywidget checks the effect.
 */
import type {
  IJupyterWidgetRegistry,
  IWidgetRegistryData
} from '@jupyter-widgets/base';
import widgetManagerPlugins from '@jupyter-widgets/jupyterlab-manager';
import { ISignal, Signal } from '@lumino/signaling';

/** The id of the plugin that provides IJupyterWidgetRegistry. */
export const REGISTRY_PLUGIN_ID = '@jupyter-widgets/jupyterlab-manager:plugin';
const WRAPPED = Symbol.for('studio-ext:wrapped-widget-registry');

/**
 * The widget modules registered so far, and a signal for the ones that come later.
 */
export class WidgetModuleLog {
  get modules(): ReadonlyArray<IWidgetRegistryData> {
    return this._modules;
  }

  /** Emitted for each module registered after a manager was created. */
  get added(): ISignal<this, IWidgetRegistryData> {
    return this._added;
  }

  /** Whether the registry plugin was wrapped in time (false: a JupyterLab we do not know). */
  wrapped = false;

  record(data: IWidgetRegistryData): void {
    this._modules.push(data);
    this._added.emit(data);
  }

  private _modules: IWidgetRegistryData[] = [];
  private _added = new Signal<this, IWidgetRegistryData>(this);
}

export const widgetModules = new WidgetModuleLog();

function recordingRegistry(
  registry: IJupyterWidgetRegistry
): IJupyterWidgetRegistry {
  return {
    registerWidget(data: IWidgetRegistryData): void {
      widgetModules.record(data);
      registry.registerWidget(data);
    }
  };
}

function wrapRegistryPlugin(): boolean {
  const plugins: any[] = Array.isArray(widgetManagerPlugins)
    ? widgetManagerPlugins
    : [widgetManagerPlugins];
  const plugin = plugins.find(p => p && p.id === REGISTRY_PLUGIN_ID);
  if (!plugin || typeof plugin.activate !== 'function') {
    return false;
  }
  if (plugin.activate[WRAPPED]) {
    return true;
  }
  const activate = plugin.activate;
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const registry = activate.apply(this, args);
    if (registry && typeof (registry as Promise<unknown>).then === 'function') {
      return (registry as Promise<IJupyterWidgetRegistry>).then(
        recordingRegistry
      );
    }
    return recordingRegistry(registry as IJupyterWidgetRegistry);
  };
  (wrapped as any)[WRAPPED] = true;
  plugin.activate = wrapped;
  return true;
}

widgetModules.wrapped = wrapRegistryPlugin();
