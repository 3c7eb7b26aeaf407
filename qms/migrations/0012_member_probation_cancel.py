# 取消预备党员资格: a member status and event kind (workflows: 发展党员 ends).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('qms', '0011_unit_founding_and_temporary'),
    ]

    operations = [
        migrations.AlterField(
            model_name='member',
            name='status',
            field=models.CharField(choices=[('active', '在册'), ('transferred_out', '已转出'), ('deceased', '已去世'), ('removed', '已除名'), ('disqualified', '已取消预备党员资格')], default='active', max_length=20, verbose_name='党籍状态'),
        ),
        migrations.AlterField(
            model_name='memberevent',
            name='kind',
            field=models.CharField(choices=[('enroll', '建档'), ('transfer_in', '转入'), ('transfer_out', '转出'), ('move', '内部调整'), ('category', '类别变更'), ('retire', '退休'), ('death', '去世'), ('removal', '除名'), ('probation_cancel', '取消预备党员资格'), ('job_change', '工作岗位变动'), ('commendation', '受到表彰或奖励'), ('discipline', '受到处分或批评'), ('hardship', '生活遇到困难'), ('conflict', '出现矛盾纠纷'), ('bad_report', '群众有不良反映'), ('away', '外出'), ('serious_violation', '严重违纪违法'), ('major_error', '出现重大工作失误'), ('accountability', '受到上级党组织问责'), ('pre_training', '参加任前培训'), ('untrained_secretary', '任书记时无任前培训记录')], max_length=20, verbose_name='变化类型'),
        ),
    ]
