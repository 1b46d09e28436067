"""The one place that imports every models module, so mappers configure completely.

Alembic's ``env.py`` and the application factory import this module.
"""

from challenge.accounts.models import ApiToken, Role, User
from challenge.audit.models import AuditEvent
from challenge.challenges.models import Challenge, ChallengeOrganizer
from challenge.core.db import Base
from challenge.datasets.models import Dataset, DatasetCase
from challenge.evaluations.models import TERMINAL_STATES, CaseResult, EvalState, Evaluation
from challenge.phases.models import Phase, PhaseConfig, Visibility
from challenge.sites.models import EvaluationSite
from challenge.submissions.models import Submission
from challenge.teams.models import Team, TeamMember
from challenge.uploads.models import Upload
from challenge.web.models import OidcIdentity, WebSession
from leaderboard.models import LeaderboardSnapshot  # noqa: F401

__all__ = [
    "ApiToken", "AuditEvent", "Base", "CaseResult", "Challenge", "ChallengeOrganizer", "Dataset",
    "DatasetCase", "EvalState", "Evaluation", "EvaluationSite", "Phase", "PhaseConfig", "Role",
    "OidcIdentity", "Submission", "TERMINAL_STATES", "Team", "TeamMember", "Upload", "User",
    "Visibility", "WebSession",
]
