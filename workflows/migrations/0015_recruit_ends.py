# 发展党员 ends other than 转正: 已取消预备党员资格, 不予接收 (an ended applicant no longer counts as open).

import django_fsm
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('qms', '0012_member_probation_cancel'),
        ('workflows', '0014_recruit_step_decision'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='applicant',
            name='one_open_applicant_per_person',
        ),
        migrations.AlterField(
            model_name='applicant',
            name='stage',
            field=django_fsm.FSMField(choices=[('applying', '申请入党'), ('activist', '入党积极分子的确定和培养教育'), ('candidate', '发展对象的确定和考察'), ('receiving', '预备党员的接收'), ('probation', '预备党员的教育考察和转正'), ('done', '已转为正式党员'), ('cancelled', '已取消预备党员资格'), ('not_received', '不予接收')], default='applying', max_length=12, protected=True, verbose_name='阶段'),
        ),
        migrations.AddConstraint(
            model_name='applicant',
            constraint=models.UniqueConstraint(condition=models.Q(('stage__in', ['done', 'cancelled', 'not_received']), _negated=True), fields=('id_number',), name='one_open_applicant_per_person'),
        ),
    ]
