//! Evaluating one policy against a request.

use crate::context::RequestContext;
use crate::parse::{Effect, Policy, Principals, Statement};
use crate::principal::Match;
use crate::variables::VarSource;
use crate::wildcard::Outcome;

/// What one policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A statement allows the request and none denies it.
    Allow {
        /// True when no `Allow` statement names the principal itself (or everyone), but one
        /// names the principal's account (`"AWS": "111122223333"` or
        /// `"arn:aws:iam::111122223333:root"`). In a key policy this delegates the decision to
        /// the account's IAM policies: the caller must also be allowed by an identity-based
        /// policy. Always false for identity-based policies and for the account's root user.
        via_account_root: bool,
    },
    /// A `Deny` statement applies: nothing else can allow the request.
    ExplicitDeny,
    /// No statement applies (an implicit deny).
    NotApplicable,
}

impl Decision {
    /// Whether the decision is an allow of either kind.
    pub fn is_allow(self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

impl Policy {
    /// Evaluates the policy: `ExplicitDeny` if any `Deny` statement applies, else `Allow` if
    /// any `Allow` statement does, else `NotApplicable`.
    pub fn evaluate(&self, ctx: &RequestContext<'_>) -> Decision {
        let mut allow: Option<Match> = None;
        for st in &self.statements {
            // Once a direct allow is found, further Allow statements cannot change the answer.
            if st.effect == Effect::Allow && allow == Some(Match::Direct) {
                continue;
            }
            let Some(m) = st.applies(ctx) else {
                continue;
            };
            match st.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => {
                    if allow != Some(Match::Direct) {
                        allow = Some(m);
                    }
                }
            }
        }
        match allow {
            Some(Match::Direct) => Decision::Allow {
                via_account_root: false,
            },
            Some(Match::Account) => Decision::Allow {
                via_account_root: true,
            },
            None => Decision::NotApplicable,
        }
    }
}

impl Statement {
    /// Whether the statement applies to the request, and how its principal matched.
    pub(crate) fn applies(&self, ctx: &RequestContext<'_>) -> Option<Match> {
        // Cheapest first: the action.
        let action_listed = self.actions.iter().any(|a| a.matches_plain(ctx.action));
        if action_listed == self.not_action {
            return None;
        }
        if !self.resource_applies(ctx) {
            return None;
        }
        let m = match &self.principals {
            Principals::Holder => Match::Direct,
            Principals::Only(set) => set.matches(ctx.principal)?,
            Principals::AllBut(set) => {
                if set.excepts(ctx.principal) {
                    return None;
                }
                Match::Direct
            }
        };
        if self.conditions.iter().all(|c| c.holds(ctx)) {
            Some(m)
        } else {
            None
        }
    }

    fn resource_applies(&self, ctx: &RequestContext<'_>) -> bool {
        let src: &dyn VarSource = ctx;
        let mut listed = false;
        for r in &self.resources {
            match r.matches(ctx.resource, src) {
                Outcome::Match => {
                    listed = true;
                    if !self.not_resource {
                        break;
                    }
                }
                Outcome::NoMatch => {}
                // A variable without value: that Resource entry matches nothing; in
                // NotResource it makes the statement unusable.
                Outcome::Unresolved => {
                    if self.not_resource {
                        return false;
                    }
                }
            }
        }
        listed != self.not_resource
    }
}
