from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "playground.jobs"
    label = "jobs"

    def ready(self) -> None:
        from django.conf import settings

        from trainer import inference

        # The models /predict and /translate keep loaded (trainer/ reads no Django settings).
        inference.configure(settings.PLAYGROUND_PREDICT_CACHE_BYTES)
