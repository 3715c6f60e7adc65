from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0006_job_disk_bytes"),
    ]

    operations = [
        migrations.AddField(model_name="job", name="resumed_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="job", name="queued_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="job", name="epochs_at_claim",
                            field=models.PositiveIntegerField(default=0)),
        migrations.AddField(model_name="job", name="stalled_attempts",
                            field=models.PositiveIntegerField(default=0)),
        migrations.AddField(model_name="job", name="warnings",
                            field=models.JSONField(blank=True, default=list)),
    ]
