// Drawing on a canvas with pointer events (mouse, pen and touch), shared by the pages that let
// people draw: round strokes in the context's current style, a tap leaves a dot. onStroke()
// runs after each stroke segment.
export function drawOn(pad, onStroke = () => {}) {
  const context = pad.getContext("2d");
  context.lineCap = context.lineJoin = "round";
  let last = null;
  const point = (event) => {
    const rect = pad.getBoundingClientRect();
    return [(event.clientX - rect.left) * (pad.width / rect.width), (event.clientY - rect.top) * (pad.height / rect.height)];
  };
  const strokeTo = (p) => {
    context.beginPath();
    context.moveTo(...last);
    context.lineTo(...p);
    context.stroke();
    last = p;
    onStroke();
  };
  pad.addEventListener("pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    last = point(event);
    strokeTo(last);
  });
  pad.addEventListener("pointermove", (event) => { if (last) strokeTo(point(event)); });
  for (const type of ["pointerup", "pointercancel"]) pad.addEventListener(type, () => { last = null; });
}
