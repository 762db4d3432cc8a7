// The JupyterLab extension template's jest setup (@jupyterlab/testutils): ts-jest for
// our TypeScript, babel for the ES modules JupyterLab's packages ship, a jsdom
// environment. Tests live in src/__tests__/ (not part of the build's tsconfig).
const jestJupyterLab = require('@jupyterlab/testutils/lib/jest-config');

// Packages that ship ES modules only: babel turns them into CommonJS for jest.
const esModules = [
  '@codemirror',
  '@marijn',
  '@microsoft',
  '@jupyter/react-components',
  '@jupyter/web-components',
  '@jupyter/ydoc',
  '@jupyterlab/',
  '@jupyter-widgets/',
  '@lumino/',
  'color',
  'd3-',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

const baseConfig = jestJupyterLab(__dirname);

module.exports = {
  ...baseConfig,
  automock: false,
  reporters: ['default'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    ...baseConfig.transform,
    // d3-format and d3-color (used by @jupyter-widgets/controls) ship .mjs files.
    '^.+\\.mjs$': 'babel-jest'
  },
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};
