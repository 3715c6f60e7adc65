# One image for web and worker. The GPU worker builds FROM TensorFlow's GPU image (CUDA + cuDNN for
# TF 2.19, Python 3.11); pip then finds tensorflow==2.19.0 already there and installs the rest of the lock.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Front-end packages from npm's lock, copied as `make vendor` does (static/vendor/ is not in git).
FROM node:20-bookworm-slim AS vendor
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && mkdir vendor \
 && cp node_modules/@tensorflow/tfjs/dist/tf.es2017.min.js node_modules/@tensorflow/tfjs/dist/tf.es2017.min.js.map \
       node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map \
       node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.es2017.min.js node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.es2017.min.js.map \
       node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm \
       node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm vendor/

FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
# A complete lock: every transitive dependency pinned, installed without the resolver.
RUN pip install --no-deps -r requirements.txt
COPY . .
COPY --from=vendor /build/vendor/ static/vendor/
RUN python manage.py collectstatic --noinput
# Pre-trained ImageNet weights baked in, verified (a new `data` volume starts with them):
#   docker compose build --build-arg PRETRAINED="mobilenet_v2 densenet121"
ARG PRETRAINED=""
RUN if [ -n "$PRETRAINED" ]; then PLAYGROUND_DATA_DIR=/data python manage.py fetch_pretrained $PRETRAINED; fi
EXPOSE 8000
CMD ["uvicorn", "playground.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "on", "--ws-max-size", "65536", "--ws-per-message-deflate", "false"]
