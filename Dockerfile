# One image for web and worker. The worker builds FROM TensorFlow's GPU image (CUDA + cuDNN for
# TF 2.19); pip then finds tensorflow==2.19.0 already there and installs the rest of the lock.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
# A complete lock: every transitive dependency pinned, installed without the resolver.
RUN pip install --no-deps -r requirements.txt
COPY . .
RUN python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["uvicorn", "playground.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "on"]
