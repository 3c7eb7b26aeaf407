# 补选: an election of a second kind that fills only the vacant seats (seed 001 三(二)1、三(二)8).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0015_recruit_ends'),
    ]

    operations = [
        migrations.AddField(
            model_name='election',
            name='kind',
            field=models.CharField(choices=[('regular', '换届选举'), ('by', '补选')], default='regular', max_length=8, verbose_name='选举类别'),
        ),
        migrations.AddField(
            model_name='election',
            name='offices_start',
            field=models.DateField(blank=True, null=True, verbose_name='补选当选人任职日期'),
        ),
        migrations.AddField(
            model_name='election',
            name='vacant_titles',
            field=models.JSONField(blank=True, default=list, verbose_name='补选时空缺的职务'),
        ),
    ]
