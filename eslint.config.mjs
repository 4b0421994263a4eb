import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['node_modules/**', '.stack/**', 'jest.config.js', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Jest's asymmetric matchers (expect.stringContaining, …) are typed `any`.
    files: ['tests/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // Workflow code is bundled into a deterministic sandbox: no Node built-ins, drivers or path aliases.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'child_process', 'crypto', 'os', 'http', 'https', 'net'],
              message: 'Workflow code does no I/O: move this to an activity.',
            },
            {
              group: ['pg', 'dockerode', 'yaml', '@temporalio/activity', '@temporalio/client', '@temporalio/worker'],
              message: 'Workflow code does no I/O: move this to an activity.',
            },
            {
              group: ['../activities', '../activities/*'],
              message: 'Import activities only as types.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
