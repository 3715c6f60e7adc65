// Numbers behind the job page's charts, kept apart from the page so node can test them.

/** A metric (the loss by default) of the batches since the previous reported one. A batch
 * event's logs are Keras' running means since its epoch began; plotting those draws a sawtooth
 * that drops at every epoch boundary, where the means start again. previous: {epoch, step,
 * mean} of the last event drawn for this metric (or null); returns null when the event carries
 * no finite value of it. */
export function batchValue(previous, { epoch, step, logs }, metric = "loss") {
  const mean = logs?.[metric];
  if (typeof mean !== "number" || !isFinite(mean)) return null;
  if (!previous || previous.epoch !== epoch || previous.step >= step) return mean;
  return (mean * step - previous.mean * previous.step) / (step - previous.step);
}

/** TensorBoard's smoothing of points [{x, y}]: an exponential moving average with this weight
 * (0 to <1), debiased at the start so the first points are not pulled towards 0. */
export function smooth(points, weight) {
  let last = 0;
  return points.map(({ x, y }, i) => {
    last = last * weight + (1 - weight) * y;
    return { x, y: weight ? last / (1 - weight ** (i + 1)) : y };
  });
}
