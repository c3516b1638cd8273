/**
 * `npm start`: knative-lambda here. Anywhere but a cluster, the embedded platform. On a
 * cluster (or with KL_BACKEND=kubernetes), the platform's function in its KL_ROLE: this is
 * what `func deploy` and buildpack images run.
 */
import { chooseBackend } from '../backends/select.ts';
import { ConfigError, loadConfigOrExit } from '../config/load.ts';

/** A configuration the platform cannot run with ends it with the message alone and EX_CONFIG, on either backend. */
function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  return process.exit(78);
}

const config = loadConfigOrExit();
if (chooseBackend(config) === 'kubernetes') {
  const { startPlatformFunction } = await import('../../function/server.ts');
  await startPlatformFunction(Number(process.env.PORT ?? 8080), process.env.FUNC_LOG_LEVEL ?? 'warn').catch(exitOnConfigError);
  process.stdout.write(`knative-lambda ${config.KL_ROLE} function on port ${process.env.PORT ?? 8080}\n`);
} else {
  const { startEmbeddedPlatform } = await import('./embedded-platform.ts');
  const platform = await startEmbeddedPlatform(config).catch(exitOnConfigError);
  process.stdout.write(`knative-lambda embedded platform on ${platform.url} (data in ${config.KL_DATA_DIR})\n`);
}
