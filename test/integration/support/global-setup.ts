// Runs once before the integration tests: fails the whole run at once, with
// the command that starts the environment, when the environment is not up.
import { loadTestEnv, requireAmqp, requireKubernetes, requireS3 } from "./env.ts";

export default async function setup(): Promise<void> {
  loadTestEnv();
  await Promise.all([requireKubernetes(), requireS3(), requireAmqp()]);
}
