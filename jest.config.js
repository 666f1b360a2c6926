/** Jest: unit tests sit next to the code, cross-component tests in test/. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.tagpipe/', '/.venv/', '/sql/target/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/.tagpipe/'],
  testTimeout: 60000,
  maxWorkers: 2,
};
