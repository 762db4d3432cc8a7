/**
 * Links into the studio: a JupyterLab URL that names a run opens the Jobs page with
 * that run's details. A job's `studio_url` (studio_ext/_studio_link.py) is such a URL:
 *
 *     http://127.0.0.1:8888/lab?studio-run=NAME&studio-workspace=PATH
 *
 * `studio-workspace` (optional) is the workspace the run belongs to; the studio
 * switches to it first when it shows another one.
 */

/** The query parameters the studio acts on (the same names as studio_ext._studio_link). */
export const RUN_PARAM = 'studio-run';
export const WORKSPACE_PARAM = 'studio-workspace';
/** The page a run opens on. */
export const JOBS_PAGE = 'jobs';

export interface IRunLink {
  /** The job's or run's name. */
  run: string;
  /** The workspace folder it belongs to, when the link says. */
  workspace: string | null;
}

/** The run a URL's query string (`location.search`) names, or null. */
export function runLinkFrom(search: string): IRunLink | null {
  const params = new URLSearchParams(search);
  const run = (params.get(RUN_PARAM) ?? '').trim();
  if (!run) {
    return null;
  }
  const workspace = (params.get(WORKSPACE_PARAM) ?? '').trim();
  return { run, workspace: workspace || null };
}

/**
 * The query string with the studio's parameters taken out (so reloading the page
 * does not open the run again); the rest is kept as it was.
 */
export function withoutRunLink(search: string): string {
  const params = new URLSearchParams(search);
  params.delete(RUN_PARAM);
  params.delete(WORKSPACE_PARAM);
  const rest = params.toString();
  return rest ? `?${rest}` : '';
}

/** Python keyword arguments for a page's options (keys must be identifiers). */
export function pyKeywords(options: Record<string, string>): string {
  return Object.keys(options)
    .sort()
    .map(key => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        throw new Error(
          `A page option must be a Python identifier, not ${JSON.stringify(key)}.`
        );
      }
      return `, ${key}=${JSON.stringify(options[key])}`;
    })
    .join('');
}
