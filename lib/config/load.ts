import path from 'node:path';
import { REDACTED } from '../events/redact.ts';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** Settings whose values an error message never repeats. */
const SECRET_SETTINGS = new Set(['KL_API_TOKEN']);

/** Parses the environment; throws one ConfigError listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.keys(configSchema.shape);
  const input = Object.fromEntries(known.filter((key) => env[key] !== undefined && env[key] !== '').map((key) => [key, env[key]]));
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? '(environment)');
    const value = SECRET_SETTINGS.has(variable) ? REDACTED : input[variable];
    return `${variable}=${JSON.stringify(value)}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}

/** For entry points: parse or print the one message and stop. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}

export function platformUrl(config: Config): string {
  return config.KL_PLATFORM_URL ?? `http://${config.KL_PLATFORM_HOST}:${config.KL_PLATFORM_PORT}`;
}

export function s3ForcePathStyle(config: Config): boolean {
  return config.KL_S3_FORCE_PATH_STYLE ?? config.KL_S3_ENDPOINT !== undefined;
}

export function secretsDir(config: Config): string {
  return config.KL_SECRETS_DIR ?? path.join(config.KL_DATA_DIR, 'secrets');
}
