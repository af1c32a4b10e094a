// One process of a multi-process batch: reads its BatchSpec from CHAOS_SPEC, says "ready", waits
// for "go", runs the batch and reports the result.
import { type BatchSpec, runBatch } from '../batch.js';
import { emit, onParentLine } from '../env.js';

const spec = JSON.parse(process.env.CHAOS_SPEC ?? '{}') as BatchSpec;
emit('ready');
onParentLine((line) => {
  if (line !== 'go') return;
  runBatch(spec).then(
    (result) => {
      emit('done', { result });
      process.exit(0);
    },
    (error: unknown) => {
      emit('crashed', { message: String(error) });
      process.exit(1);
    },
  );
});
