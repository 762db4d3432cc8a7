/**
 * The JupyterLab facts registry.ts relies on, checked against the installed
 * packages (the versions package-lock.json pins, which match the JupyterLab the
 * extension is built for):
 *
 * - `@jupyter-widgets/jupyterlab-manager` exports, as its default, the plugin that
 *   provides IJupyterWidgetRegistry, under the id registry.ts looks for, with an
 *   `activate` that returns the registry;
 * - the application's plugin registry takes `activate` from the plugin object when
 *   the plugin is registered: a change made before registration is what runs, one
 *   made after is ignored (so registry.ts must patch while its module loads);
 * - activated through a real JupyterLab application, the patched registry records
 *   every `registerWidget` call, from jupyterlab-manager's own plugins and from a
 *   third-party widget library (what anywidget does).
 *
 * The rest (JupyterLab loads every extension's module before it registers any
 * plugin, and the registry reaches our widget manager) is checked in a browser by
 * tests/browser/test_studio_sidebar.py::test_figurewidget_renders_through_anywidget.
 */
import {
  IJupyterWidgetRegistry,
  IWidgetRegistryData,
  JUPYTER_WIDGETS_VERSION
} from '@jupyter-widgets/base';
import widgetManagerPlugins from '@jupyter-widgets/jupyterlab-manager';
import {
  JupyterFrontEndPlugin,
  JupyterLab,
  LabShell
} from '@jupyterlab/application';
import {
  IRenderMimeRegistry,
  RenderMimeRegistry
} from '@jupyterlab/rendermime';
import { Token } from '@lumino/coreutils';

import { REGISTRY_PLUGIN_ID, widgetModules } from '../registry';

type AnyPlugin = JupyterFrontEndPlugin<any, any, any>;

const allPlugins = (): AnyPlugin[] =>
  (Array.isArray(widgetManagerPlugins)
    ? widgetManagerPlugins
    : [widgetManagerPlugins]) as AnyPlugin[];

function newLab(): JupyterLab {
  return new JupyterLab({ shell: new LabShell() });
}

/** A plugin that provides the rendermime the registry plugin requires. */
const rendermimePlugin: JupyterFrontEndPlugin<IRenderMimeRegistry> = {
  id: 'studio-ext-test:rendermime',
  description: 'Provides a rendermime registry.',
  provides: IRenderMimeRegistry,
  activate: () => new RenderMimeRegistry()
};

describe('the widget registry plugin registry.ts wraps', () => {
  it('is exported by @jupyter-widgets/jupyterlab-manager under the id registry.ts uses', () => {
    const plugin = allPlugins().find(p => p.id === REGISTRY_PLUGIN_ID);
    expect(plugin).toBeDefined();
    expect(plugin!.provides).toBe(IJupyterWidgetRegistry);
    expect(typeof plugin!.activate).toBe('function');
  });

  it('was wrapped when registry.ts loaded', () => {
    expect(widgetModules.wrapped).toBe(true);
  });
});

describe("the application's plugin registry", () => {
  const token = new Token<string>('studio-ext-test:answer');

  it('runs the activate a plugin object has when it is registered', async () => {
    const app = newLab();
    const plugin: JupyterFrontEndPlugin<string> = {
      id: 'studio-ext-test:patched-before',
      description: 'Patched before registration.',
      provides: token,
      activate: () => 'original'
    };
    plugin.activate = () => 'patched before registration';
    app.registerPlugin(plugin);
    await expect(app.resolveRequiredService(token)).resolves.toBe(
      'patched before registration'
    );
  });

  it('ignores a change to activate made after registration', async () => {
    // Why registry.ts patches while its module loads, not in its own activate: by
    // then the registry plugin is registered and the patch would never run.
    const app = newLab();
    const plugin: JupyterFrontEndPlugin<string> = {
      id: 'studio-ext-test:patched-after',
      description: 'Patched after registration.',
      provides: token,
      activate: () => 'original'
    };
    app.registerPlugin(plugin);
    plugin.activate = () => 'patched after registration';
    await expect(app.resolveRequiredService(token)).resolves.toBe('original');
  });
});

describe('the wrapped registry in a JupyterLab application', () => {
  it("records every registerWidget call: jupyterlab-manager's own and a widget library's", async () => {
    const app = newLab();
    app.registerPlugin(rendermimePlugin);
    // jupyterlab-manager's plugins as JupyterLab registers them (the controls plugin
    // loads its module through webpack, so only its registration is recorded here).
    app.registerPlugins(allPlugins());
    const thirdParty: IWidgetRegistryData = {
      name: 'studio-ext-test-widgets',
      version: '1.2.3',
      exports: {}
    };
    const added: IWidgetRegistryData[] = [];
    widgetModules.added.connect((_, data) => added.push(data));
    const libraryPlugin: JupyterFrontEndPlugin<void> = {
      id: 'studio-ext-test:widget-library',
      description: 'Registers a widget library.',
      requires: [IJupyterWidgetRegistry],
      autoStart: true,
      activate: (_, registry: IJupyterWidgetRegistry) =>
        registry.registerWidget(thirdParty)
    };
    app.registerPlugin(libraryPlugin);

    const before = widgetModules.modules.length;
    const registry = await app.resolveRequiredService(IJupyterWidgetRegistry);
    expect(typeof registry.registerWidget).toBe('function');
    for (const plugin of allPlugins()) {
      if (plugin.requires?.includes(IJupyterWidgetRegistry)) {
        await app.activatePlugin(plugin.id);
      }
    }
    await app.activatePlugin(libraryPlugin.id);

    const recorded = widgetModules.modules.slice(before).map(m => m.name);
    expect(recorded).toEqual(
      expect.arrayContaining([
        '@jupyter-widgets/base',
        '@jupyter-widgets/controls',
        '@jupyter-widgets/output',
        thirdParty.name
      ])
    );
    const base = widgetModules.modules.find(
      m => m.name === '@jupyter-widgets/base'
    );
    expect(base?.version).toBe(JUPYTER_WIDGETS_VERSION);
    expect(added).toContain(thirdParty);
  });
});
