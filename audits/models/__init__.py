"""The ``audits`` app's models, one module per room, gathered here for Django and for readers
outside ``audits`` (tables and migrations are the app's, unchanged). Inside ``audits`` each room
imports its own ``models`` module and those of the rooms below it."""
from audits.campaign.models import (
    Campaign,
    CampaignItem,
    CampaignState,
    CampaignUnit,
    Finding,
    ItemScore,
    Plan,
    SelfEvidence,
    Team,
    UnitState,
)
from audits.capa.models import (
    OPEN_STATES,
    RECTIFIED_STATES,
    Grade,
    NCAttachment,
    NCSource,
    NCState,
    Nonconformity,
)
from audits.certification.models import (
    AuditKind,
    AuditStatus,
    Certificate,
    CertificationAudit,
    ExternalFinding,
)
from audits.evidence.models import EvidencePack, PackLink, PackState
from audits.internal.models import (
    Audit,
    AuditMeeting,
    AuditState,
    ChecklistItem,
    ChecklistTemplate,
    ItemResult,
    MeetingKind,
    ProgrammeEntry,
    SampledRecord,
)
from audits.performance.models import (
    AnnualReport,
    Appeal,
    AppealState,
    Appraisal,
    AssessmentResult,
    Comparator,
    Objective,
    Score,
    ScoringItem,
    ScoringScheme,
)
from audits.review.models import DecisionKind, ManagementReview, ReviewDecision, ReviewState
from audits.system.models import (
    ContextIssue,
    InterestedParty,
    IssueKind,
    Population,
    QuestionKind,
    Risk,
    RiskKind,
    Survey,
    SurveyEntry,
    SurveyQuestion,
    TrainingRecord,
)

__all__ = [
    "OPEN_STATES", "RECTIFIED_STATES", "Grade", "NCAttachment", "NCSource", "NCState", "Nonconformity",
    "EvidencePack", "PackLink", "PackState",
    "Audit", "AuditMeeting", "AuditState", "ChecklistItem", "ChecklistTemplate", "ItemResult", "MeetingKind",
    "ProgrammeEntry", "SampledRecord",
    "AnnualReport", "Appeal", "AppealState", "Appraisal", "AssessmentResult", "Comparator", "Objective", "Score", "ScoringItem", "ScoringScheme",
    "DecisionKind", "ManagementReview", "ReviewDecision", "ReviewState",
    "Campaign", "CampaignItem", "CampaignState", "CampaignUnit", "Finding", "ItemScore", "Plan", "SelfEvidence", "Team",
    "UnitState",
    "AuditKind", "AuditStatus", "Certificate", "CertificationAudit", "ExternalFinding",
    "ContextIssue", "InterestedParty", "IssueKind", "Population", "QuestionKind", "Risk", "RiskKind", "Survey",
    "SurveyEntry", "SurveyQuestion", "TrainingRecord",
]
