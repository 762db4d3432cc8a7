/**
 * Run links (link.ts): the query a job's studio_url carries, read back; the query
 * left once the studio has acted on it; a page's options as Python keywords.
 */
import {
  JOBS_PAGE,
  RUN_PARAM,
  WORKSPACE_PARAM,
  pyKeywords,
  runLinkFrom,
  withoutRunLink
} from '../link';

describe('runLinkFrom', () => {
  it('reads the run and its workspace from a studio_url query', () => {
    const search =
      '?studio-run=lucid_ember_b0561a03&studio-workspace=%2Ftmp%2Fe%20j%2Fws&token=abc';
    expect(runLinkFrom(search)).toEqual({
      run: 'lucid_ember_b0561a03',
      workspace: '/tmp/e j/ws'
    });
  });

  it('takes a run alone, with no workspace', () => {
    expect(runLinkFrom(`?${RUN_PARAM}=r1`)).toEqual({
      run: 'r1',
      workspace: null
    });
  });

  it('is null for a URL that names no run', () => {
    expect(runLinkFrom('')).toBeNull();
    expect(runLinkFrom('?token=abc')).toBeNull();
    expect(runLinkFrom(`?${RUN_PARAM}=%20&${WORKSPACE_PARAM}=/ws`)).toBeNull();
  });
});

describe('withoutRunLink', () => {
  it('drops the studio parameters and keeps the others', () => {
    expect(withoutRunLink('?studio-run=r&studio-workspace=%2Fws&reset')).toBe(
      '?reset='
    );
    expect(withoutRunLink('?studio-run=r')).toBe('');
  });
});

describe('pyKeywords', () => {
  it('writes options as Python keyword arguments, values as string literals', () => {
    expect(pyKeywords({ run: 'a"b' })).toBe(', run="a\\"b"');
    expect(pyKeywords({})).toBe('');
  });

  it('refuses a key that is no identifier (it would be code)', () => {
    expect(() => pyKeywords({ 'run=1); import os; (x': 'v' })).toThrow(
      'must be a Python identifier'
    );
  });

  it('names the Jobs page', () => {
    expect(JOBS_PAGE).toBe('jobs');
  });
});
