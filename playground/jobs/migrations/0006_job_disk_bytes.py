from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0005_gang_slot'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='disk_bytes',
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
