import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { builtinModules } from 'node:module';

// Workflow code runs in a deterministic sandbox: no Node built-in (with or without `node:`), no driver, no client.
// Exact names (`paths`), so a module of our own named like a built-in (`./constants`) stays allowed.
const NO_IO = 'Workflow code does no I/O: move this to an activity.';
const DRIVERS = ['pg', 'dockerode', 'nodemailer', 'echarts', 'commander', '@commander-js/extra-typings', 'yaml'];
const TEMPORAL_NON_WORKFLOW = [
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/testing',
];
const RESTRICTED_PATHS = [...builtinModules, ...DRIVERS, ...TEMPORAL_NON_WORKFLOW].map((name) => ({
  name,
  message: NO_IO,
}));

export default tseslint.config(
  { ignores: ['node_modules/**', '.stack/**', 'dist/**', 'jest.config.js', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map((c) => ({ ...c, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Jest's asymmetric matchers (expect.stringContaining, …) are typed `any`; table-driven plan cases mutate
    // untyped YAML trees; stubbed activities are async functions that return at once.
    files: ['tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Jest's sequencer and reporter are plain CommonJS that Jest loads without a transform.
    files: ['tests/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        setTimeout: 'readonly',
      },
    },
  },
  {
    // The demo system's pipelines are plain CommonJS that also runs inside the container, without a build.
    files: ['demo/system/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        setInterval: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: {},
  },
  {
    // Workflow code is bundled into a deterministic sandbox: no Node built-ins, drivers or path aliases.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: RESTRICTED_PATHS,
          patterns: [
            { group: ['node:*', 'echarts/*', 'pg/*', 'dockerode/*', 'nodemailer/*'], message: NO_IO },
            {
              // Types only (activities' inputs and results): workflows/ and model/ are the bundle's whole source,
              // which is what the worker's bundle cache keys on (lib/workflow-bundle.ts).
              group: ['../*', '!../model'],
              message: 'Workflow code imports only workflows/ and model/ at run time: import types only.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // The domain model is the ground floor: workflow-safe (bundled with the workflows) and importing nothing of ours,
    // not even types, so every other folder can stand on it without a loop.
    files: ['model/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...RESTRICTED_PATHS,
            { name: '@temporalio/workflow', message: 'The model is plain code: no workflow API.' },
          ],
          patterns: [
            { group: ['node:*', 'echarts/*', 'pg/*', 'dockerode/*', 'nodemailer/*'], message: NO_IO },
            { group: ['../*'], message: 'The model imports nothing of ours outside model/ (types included).' },
          ],
        },
      ],
    },
  },
);
