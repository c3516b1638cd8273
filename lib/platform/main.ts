/** `npm start`: the embedded platform with the configuration from the environment. */
import { loadConfigOrExit } from '../config/load.ts';
import { startEmbeddedPlatform } from './embedded-platform.ts';

const config = loadConfigOrExit();
const platform = await startEmbeddedPlatform(config);
process.stdout.write(`knative-lambda embedded platform on ${platform.url} (data in ${config.KL_DATA_DIR})\n`);
