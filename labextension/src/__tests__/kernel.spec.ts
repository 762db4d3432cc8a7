/**
 * The `@jupyter-widgets/jupyterlab-manager` internals kernel.ts relies on, checked
 * against the installed package and a real kernel (a `jupyter lab` server started
 * by @jupyterlab/testutils, its `python` from PATH, with ipykernel and ipywidgets).
 *
 * StudioWidgetManager overrides `restoreWidgets()` to set `_restoredStatus` and emit
 * `_restored` without loading the kernel's widget models. That works only while:
 * - KernelWidgetManager restores through the overridable `restoreWidgets()`, both
 *   when it is made and when its kernel connection comes back (else every model
 *   alive in the kernel is loaded again, plotly.js included);
 * - `_restoredStatus` and `_restored` are what `restoredStatus` and `restored`
 *   report, and WidgetRenderer reads them (it waits for `restored`, and once
 *   `restoredStatus` is true it reports a missing model instead of waiting).
 * The base class's own behaviour is checked beside it, so that a test that passes
 * cannot be one that no longer sees what the override changes.
 */
import {
  KernelWidgetManager,
  WidgetRenderer
} from '@jupyter-widgets/jupyterlab-manager';
import { RenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Kernel, KernelManager, KernelMessage } from '@jupyterlab/services';
import { JupyterServer } from '@jupyterlab/testutils';
import { PromiseDelegate } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';
import { execFileSync } from 'child_process';

import { StudioWidgetManager, builtinWidgetModules } from '../kernel';

const WIDGET_VIEW_MIMETYPE = 'application/vnd.jupyter.widget-view+json';
const TIMEOUT_MS = 60_000;

jest.setTimeout(TIMEOUT_MS);

function onNext<T, U>(signal: ISignal<T, U>, what: string): Promise<U> {
  const done = new PromiseDelegate<U>();
  const timer = setTimeout(
    () => done.reject(new Error(`timed out waiting for ${what}`)),
    TIMEOUT_MS / 2
  );
  const slot = (_: T, value: U) => {
    clearTimeout(timer);
    signal.disconnect(slot);
    done.resolve(value);
  };
  signal.connect(slot);
  return done.promise;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > TIMEOUT_MS / 2) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

async function connected(kernel: Kernel.IKernelConnection): Promise<void> {
  if (kernel.connectionStatus !== 'connected') {
    await onNext(kernel.connectionStatusChanged, 'the kernel connection');
    return connected(kernel);
  }
}

/** Run code and return what it printed (stdout). */
async function run(
  kernel: Kernel.IKernelConnection,
  code: string
): Promise<string> {
  let out = '';
  const future = kernel.requestExecute({ code });
  future.onIOPub = msg => {
    if (KernelMessage.isStreamMsg(msg) && msg.content.name === 'stdout') {
      out += msg.content.text;
    } else if (KernelMessage.isErrorMsg(msg)) {
      out += msg.content.traceback.join('\n');
    }
  };
  const reply = await future.done;
  if (reply.content.status !== 'ok') {
    throw new Error(`the kernel failed to run ${code}:\n${out}`);
  }
  return out.trim();
}

describe('KernelWidgetManager internals StudioWidgetManager overrides', () => {
  const server = new JupyterServer();
  let kernels: KernelManager;
  let owner: Kernel.IKernelConnection;
  let modelId: string;
  const managers: KernelWidgetManager[] = [];

  /** A new connection (as another browser window makes) to the test kernel. */
  function connection(): Kernel.IKernelConnection {
    return kernels.connectTo({ model: owner.model, handleComms: true });
  }

  /** Keep the manager for disposal; register ipywidgets' modules as kernel.ts does. */
  function track<T extends KernelWidgetManager>(manager: T): T {
    managers.push(manager);
    for (const data of builtinWidgetModules()) {
      manager.register(data);
    }
    return manager;
  }

  beforeAll(async () => {
    try {
      execFileSync('jupyter-lab', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(
        'jupyter-lab is not on PATH: run the tests with the project venv first ' +
          'on PATH (PATH=../.venv/bin:$PATH npm test), or through ' +
          'tests/jupyter/test_labextension_internals.py'
      );
    }
    await server.start({
      configData: {
        ServerApp: { allow_root: true, log_level: 'INFO' },
        LabApp: { log_level: 'INFO' }
      }
    });
    kernels = new KernelManager();
    // Comms off on this connection: nothing answers the widget's comm_open here,
    // so the model stays alive in the kernel like one made by another window.
    owner = await kernels.startNew({ name: 'ipython' }, { handleComms: false });
    await owner.info;
    modelId = await run(
      owner,
      'import ipywidgets\nslider = ipywidgets.IntSlider(value=7)\nprint(slider.model_id)'
    );
    expect(modelId).toMatch(/^[0-9a-f]{32}$/);
  }, TIMEOUT_MS * 2);

  afterAll(async () => {
    for (const manager of managers) {
      manager.dispose();
    }
    await kernels?.shutdownAll();
    kernels?.dispose();
    await server.shutdown();
  }, TIMEOUT_MS);

  it('KernelWidgetManager loads every model alive in the kernel, then reports restored', async () => {
    const kernel = connection();
    const restored = new PromiseDelegate<void>();
    // The constructor starts restoring; `restored` fires after the models load.
    const manager = track(
      new KernelWidgetManager(kernel, new RenderMimeRegistry())
    );
    manager.restored.connect(() => restored.resolve());
    expect(manager.restoredStatus).toBe(false);
    await restored.promise;
    expect(manager.restoredStatus).toBe(true);
    expect(manager.has_model(modelId)).toBe(true);
    const model = await manager.get_model(modelId);
    expect(model.get('value')).toBe(7);
  });

  it('StudioWidgetManager is restored as it is made and loads no kernel model', async () => {
    const kernel = connection();
    const manager = track(
      new StudioWidgetManager(kernel, new RenderMimeRegistry())
    );
    // Synchronously: only the override (no kernel round trip) can have run.
    expect(manager.restoredStatus).toBe(true);
    await connected(kernel);
    // A round trip after the connection's own restore had its chance to start.
    await kernel.requestCommInfo({ target_name: manager.comm_target_name });
    await kernel.requestKernelInfo();
    expect(manager.restoredStatus).toBe(true);
    expect(manager.has_model(modelId)).toBe(false);
  });

  it('a reconnection restores through the override too', async () => {
    const kernel = connection();
    const manager = track(
      new StudioWidgetManager(kernel, new RenderMimeRegistry())
    );
    await connected(kernel);
    // disconnect() is what a kernel restart does to the manager (and what
    // StudioKernel calls before dropping one): the status goes back to false.
    manager.disconnect();
    expect(manager.restoredStatus).toBe(false);
    const restored = onNext(manager.restored, 'restored after reconnecting');
    await kernel.reconnect();
    await restored;
    expect(manager.restoredStatus).toBe(true);
    expect(manager.has_model(modelId)).toBe(false);
  });

  it('WidgetRenderer waits for `restored` and then trusts `restoredStatus`', async () => {
    const kernel = connection();
    const manager = track(
      new StudioWidgetManager(kernel, new RenderMimeRegistry())
    );
    await connected(kernel);
    manager.disconnect(); // restoredStatus false: a missing model may still come
    const renderer = new WidgetRenderer(
      { mimeType: WIDGET_VIEW_MIMETYPE, sanitizer: {}, resolver: null } as any,
      manager
    );
    const model = new MimeModel({
      data: {
        [WIDGET_VIEW_MIMETYPE]: {
          model_id: modelId,
          version_major: 2,
          version_minor: 0
        }
      }
    });
    await renderer.renderModel(model);
    expect(renderer.node.textContent).toBe('Loading widget...');

    // What the override does on restore: the renderer renders again and, the
    // manager being restored, reports the model it does not have.
    const rerendered = onNext(manager.restored, 'restored');
    await manager.restoreWidgets();
    await rerendered;
    // get_model gives a missing model 2 s to arrive before it rejects.
    await waitFor(
      () => renderer.node.textContent !== '',
      'the renderer to render again'
    );
    await waitFor(
      () => renderer.node.textContent !== 'Loading widget...',
      'the renderer to give up on the model'
    );
    expect(renderer.node.textContent).toBe(
      'Error displaying widget: model not found'
    );
    renderer.dispose();
  });
});
