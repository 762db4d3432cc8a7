/**
 * The REST API of the studio_ext server extension (studio_ext/jupyter).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IPageInfo {
  id: string;
  title: string;
}

export interface IWorkspaceInfo {
  path: string;
  name: string;
}

export interface IDefaultWorkspace {
  path: string;
  /** Where the default comes from: STUDIO_EXT_WORKSPACE, demo-workspace, or the root dir. */
  source: 'env' | 'demo' | 'root';
  root_dir: string;
}

export interface ISummary {
  workspace: string;
  name: string;
  jobs: { running: number; queued: number };
  endpoints: { available: boolean; total: number; unhealthy: number };
  /** The monitors' alerts not yet acknowledged (absent from an older server). */
  alerts?: { available: boolean; unacknowledged: number };
}

/** An error the server explained (its message is meant for the user). */
export class StudioApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

async function request<T>(
  endpoint: string,
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'studio-ext', endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    const message =
      (data && data.message) ||
      `The studio server extension answered ${response.status} ${response.statusText}.`;
    throw new StudioApiError(message, response.status);
  }
  return data as T;
}

export function fetchPages(): Promise<IPageInfo[]> {
  return request<{ pages: IPageInfo[] }>('pages').then(reply => reply.pages);
}

export function fetchDefaultWorkspace(): Promise<IDefaultWorkspace> {
  return request<IDefaultWorkspace>('workspace');
}

/** Open a workspace on the server: its absolute path and name, or a StudioApiError. */
export function openWorkspace(path: string): Promise<IWorkspaceInfo> {
  return request<IWorkspaceInfo>('workspace', {
    method: 'POST',
    body: JSON.stringify({ path })
  });
}

export function fetchSummary(workspace: string): Promise<ISummary> {
  return request<ISummary>(
    `summary?workspace=${encodeURIComponent(workspace)}`
  );
}
