// Lint: type-aware rules that catch money-losing mistakes the compiler lets through (a promise nobody
// awaits, a promise where a callback is expected, a switch that forgets a state).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "data/", "test-output/", "tmp/"] },
  {
    files: ["**/*.ts"],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@typescript-eslint": tseslint.plugin },
    rules: {
      // node:test's describe/it return promises the runner itself tracks.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "suite", "before", "after", "beforeEach", "afterEach"] },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false, attributes: false } }],
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
  // One injected clock (src/core/ports/clock.ts): reading the current time anywhere else in src/ is refused,
  // so a test can hand PGB its own clock and nothing reads the machine's behind its back.
  {
    files: ["src/**/*.ts"],
    ignores: ["src/core/system-clock.ts"],
    rules: {
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: "Read the time through the injected Clock (src/core/ports/clock.ts): clock.nowMs()." },
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: "Read the time through the injected Clock (src/core/ports/clock.ts): clock.now().",
        },
        { selector: "CallExpression[callee.name='Date']", message: "Date() reads the time: use the injected Clock (src/core/ports/clock.ts)." },
      ],
    },
  },
);
