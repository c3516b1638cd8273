// Runs once before the image tests: fails the whole run at once, with the command that
// sets the tier up, when it is not (no env.json, a tool missing, the registry down, not root).
import { requireImageEnv } from './image-env.ts';

export default async function setup(): Promise<void> {
  await requireImageEnv();
}
