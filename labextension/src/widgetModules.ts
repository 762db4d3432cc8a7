/**
 * Plotly's FigureWidget front end, loaded by URL and ahead of time.
 *
 * A FigureWidget is an anywidget whose front-end module (about 5 MB of JavaScript)
 * normally travels from the kernel as a string with every figure, and anywidget
 * gives a model 2 s to import it and initialize; on a busy machine that fails
 * ("[anywidget] Failed to initialize model.") and the figure draws without its
 * data. In the studio kernel, FigureWidget's module is instead the URL the server
 * extension serves it at: the browser imports a URL once and keeps the module, and
 * the page imports it here before it builds any panel, so a FigureWidget's
 * initialization no longer includes loading it.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';

/** The server extension's route of plotly's widget module (see studio_ext/jupyter). */
const PLOTLY_MODULE_ROUTE = 'studio-ext/widget-modules/plotly.js';

/** The absolute URL of plotly's widget module (anywidget imports only http(s) URLs). */
export function plotlyWidgetModuleUrl(): string {
  const path = URLExt.join(PageConfig.getBaseUrl(), PLOTLY_MODULE_ROUTE);
  return new URL(path, window.location.href).href;
}

let preloaded: Promise<boolean> | null = null;

/**
 * Import plotly's widget module once per browser window; true when it loaded. A
 * failure is logged as a warning and retried on the next call: pages still build,
 * and a FigureWidget then loads the module itself.
 */
export function preloadWidgetModules(): Promise<boolean> {
  if (!preloaded) {
    const url = plotlyWidgetModuleUrl();
    preloaded = import(/* webpackIgnore: true */ url).then(
      () => true,
      error => {
        console.warn(
          `studio-ext: could not preload ${url}; FigureWidgets load it themselves.`,
          error
        );
        preloaded = null;
        return false;
      }
    );
  }
  return preloaded;
}
