// piscina worker entry: one generator per task.
import { runGenerator, type GeneratorResult, type GeneratorTask } from './generator.js';

export default function run(task: GeneratorTask): Promise<GeneratorResult> {
  return runGenerator(task);
}
