// Turns a drawing into a model input the way the training images were made.
//
// "fill" (scikit-learn digits, 8x8): the ink's bounding box is scaled, aspect ratio kept, until it
//   fills the frame (every digits image spans all 8 rows), and centred.
// "mnist" (MNIST, Fashion-MNIST, 28x28): the box is scaled into a 20x20 square, aspect ratio kept,
//   and placed so that the ink's centre of mass sits at the centre of the 28x28 field.
// Resampling is by area (each output pixel is the mean ink under it), like digits' 4x4 block
// counts and MNIST's anti-aliased downscaling.

const INK_THRESHOLD = 0.05;

/** Ink in [0, 1] per pixel from RGBA data drawn in any opaque colour on a transparent canvas. */
export function inkFromRgba(rgba) {
  const ink = new Float32Array(rgba.length / 4);
  for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i + 3] / 255;
  return ink;
}

/** The preprocessing convention for a model input of `height` x `width`. */
export function conventionFor(height, width) {
  return height === 28 && width === 28 ? "mnist" : "fill";
}

/**
 * Returns a Float32Array of outHeight * outWidth values in [0, 1] (row-major), or null when
 * nothing is drawn.
 */
export function preprocess(ink, width, height, outHeight, outWidth, convention = conventionFor(outHeight, outWidth)) {
  const box = inkBox(ink, width, height);
  if (!box) return null;
  const boxWidth = box.x1 - box.x0 + 1;
  const boxHeight = box.y1 - box.y0 + 1;
  let scale, offsetX, offsetY;
  if (convention === "mnist") {
    const fit = (20 / 28) * Math.min(outHeight, outWidth);
    scale = Math.min(fit / boxWidth, fit / boxHeight);
    // Centre of mass in pixel-index terms lands on index out/2 (MNIST's mean is (14.0, 14.0)).
    const mass = centreOfMass(ink, width, box);
    offsetX = outWidth / 2 + 0.5 - (mass.x - box.x0) * scale;
    offsetY = outHeight / 2 + 0.5 - (mass.y - box.y0) * scale;
  } else {
    scale = Math.min(outWidth / boxWidth, outHeight / boxHeight);
    offsetX = (outWidth - boxWidth * scale) / 2;
    offsetY = (outHeight - boxHeight * scale) / 2;
  }
  const out = new Float32Array(outHeight * outWidth);
  for (let y = box.y0; y <= box.y1; y++) {
    const top = offsetY + (y - box.y0) * scale;
    for (let x = box.x0; x <= box.x1; x++) {
      const value = ink[y * width + x];
      if (value > 0) spread(out, outWidth, outHeight, offsetX + (x - box.x0) * scale, top, scale, value);
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, out[i]);  // rounding must not pass 1
  return out;
}

function inkBox(ink, width, height) {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > INK_THRESHOLD) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x0, y0, x1, y1 };
}

function centreOfMass(ink, width, box) {
  let total = 0, sx = 0, sy = 0;
  for (let y = box.y0; y <= box.y1; y++) {
    for (let x = box.x0; x <= box.x1; x++) {
      const v = ink[y * width + x];
      total += v;
      sx += v * (x + 0.5);
      sy += v * (y + 0.5);
    }
  }
  return { x: sx / total, y: sy / total };
}

// Adds `value` times the overlap of the square [left, left+size) x [top, top+size) with each
// output pixel it covers.
function spread(out, outWidth, outHeight, left, top, size, value) {
  const right = left + size, bottom = top + size;
  for (let row = Math.max(0, Math.floor(top)); row < Math.min(outHeight, Math.ceil(bottom)); row++) {
    const dy = Math.min(bottom, row + 1) - Math.max(top, row);
    for (let col = Math.max(0, Math.floor(left)); col < Math.min(outWidth, Math.ceil(right)); col++) {
      const dx = Math.min(right, col + 1) - Math.max(left, col);
      out[row * outWidth + col] += value * dx * dy;
    }
  }
}
