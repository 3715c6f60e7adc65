"""manage.py fetch_pretrained [model ...]: downloads and verifies pre-trained weights (and the
class names) into PLAYGROUND_DATA_DIR ahead of time, e.g. while building an image, so that jobs
on a machine without internet find them (trainer.pretrained)."""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trainer import pretrained


class Command(BaseCommand):
    help = "Fetch and verify pre-trained CNN weights into PLAYGROUND_DATA_DIR (all of them by default)."

    def add_arguments(self, parser):
        parser.add_argument("models", nargs="*", choices=[[], *pretrained.ARCHITECTURES], metavar="model",
                            help=f"Any of: {', '.join(pretrained.ARCHITECTURES)}.")

    def handle(self, *args, models, **options):
        data_dir = settings.PLAYGROUND_DATA_DIR
        try:
            for name in models or pretrained.ARCHITECTURES:
                # Loading checks the weights against the architecture, hash or not.
                pretrained.load(name, data_dir)
                pretrained.class_names(data_dir, for_model=name)
                self.stdout.write(f"{pretrained.architecture(name).title}: verified")
        except pretrained.PretrainedUnavailable as exc:
            raise CommandError(str(exc)) from None
        for row in pretrained.status(data_dir):
            if row["cached"]:
                self.stdout.write(f"  {row['file']} ({row['bytes']:,} bytes; hash: {row['hash']})")
