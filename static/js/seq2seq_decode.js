// Greedy decoding with a translation job's TF.js encoder and one-step decoder: the loop of
// the translation recipe's greedy_decode, one decoder call per token (the page and
// benchmarks/browser_decode.py both use it).
import { BOS, EOS } from "./text_normalize.js";

// The first index of the largest value, like numpy.argmax (same tie-breaking as the server).
export function argMax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

// row: front-padded source ids. stopAtEos=false always runs maxSteps (timing benchmarks).
export async function greedyDecode(encoder, decoder, row, maxSteps, { stopAtEos = true } = {}) {
  const started = performance.now();
  const source = tf.tensor2d([row], [1, row.length], "int32");
  let [keys, ...states] = encoder.predict(source);
  source.dispose();
  const usesKeys = decoder.inputs.length > states.length + 1;
  const ids = [];
  let previous = BOS, logProbability = 0, steps = 0;
  for (let step = 0; step < maxSteps; step++) {
    const token = tf.tensor2d([[previous]], [1, 1], "int32");
    const [probabilities, ...next] = decoder.predict([token, ...(usesKeys ? [keys] : []), ...states]);
    token.dispose();
    tf.dispose(states);
    states = next;
    const values = await probabilities.data();
    probabilities.dispose();
    previous = argMax(values);
    logProbability += Math.log(Math.max(values[previous], 1e-30));  // as beam_decode's score
    steps += 1;
    if (previous === EOS && stopAtEos) break;
    ids.push(previous);
  }
  tf.dispose([keys, ...states]);
  const ms = performance.now() - started;
  return { ids, ms, steps, msPerToken: ms / steps, logProbability };
}
