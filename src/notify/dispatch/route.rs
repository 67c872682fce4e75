//! The routing tree: each route's settings resolved against its parent's, and the routes an
//! alert goes to (Alertmanager's `dispatch/route.go`).

use super::ChannelInfo;
use crate::clock::duration_ms as ms;
use crate::config::{all_match, Matcher, RouteConfig};
use crate::query::Labels;

/// Which labels a route groups by.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum GroupBy {
    /// `["..."]`: every label.
    All,
    Labels(Vec<String>),
}

/// A route of the tree, its settings resolved against its parent's.
#[derive(Debug)]
pub(super) struct Route {
    pub(super) matchers: Vec<Matcher>,
    /// Indexes into the dispatcher's channels.
    pub(super) receivers: Vec<usize>,
    pub(super) group_by: GroupBy,
    pub(super) group_wait_ms: i64,
    pub(super) group_interval_ms: i64,
    pub(super) repeat_interval_ms: i64,
    pub(super) continue_matching: bool,
    /// Alertmanager's route key: the parent's, `/`, and this route's matchers.
    pub(super) key: String,
    /// Indexes of the children in the dispatcher's routes.
    pub(super) children: Vec<usize>,
}

/// The routes of the tree, the top one first.
#[derive(Debug)]
pub(super) struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// The tree of `config` over `channels` (receivers are looked up by name).
    pub(super) fn new(config: &RouteConfig, channels: &[ChannelInfo]) -> Result<Self, String> {
        let mut routes = Routes { routes: Vec::new() };
        routes.add(config, None, channels)?;
        Ok(routes)
    }

    fn add(
        &mut self,
        config: &RouteConfig,
        parent: Option<usize>,
        channels: &[ChannelInfo],
    ) -> Result<usize, String> {
        let matchers: Vec<Matcher> = match parent {
            // The top route matches every alert.
            None => Vec::new(),
            Some(_) => config
                .matchers
                .iter()
                .map(|m| Matcher::parse(m))
                .collect::<Result<_, _>>()?,
        };
        let receivers: Vec<usize> = if config.receivers.is_empty() {
            match parent {
                Some(p) => self.routes[p].receivers.clone(),
                None => (0..channels.len()).collect(),
            }
        } else {
            config
                .receivers
                .iter()
                .map(|name| {
                    channels
                        .iter()
                        .position(|c| &c.name == name)
                        .ok_or_else(|| format!("no channel is named {name:?}"))
                })
                .collect::<Result<_, _>>()?
        };
        let inherited = parent.map(|p| &self.routes[p]);
        let group_by = match &config.group_by {
            Some(names) if names.iter().any(|n| n == "...") => GroupBy::All,
            Some(names) => GroupBy::Labels(names.clone()),
            None => inherited.map_or(GroupBy::Labels(Vec::new()), |p| p.group_by.clone()),
        };
        let timing = |own: Option<std::time::Duration>, of: fn(&Route) -> i64, default| {
            own.map(ms)
                .or_else(|| inherited.map(of))
                .unwrap_or_else(|| ms(default))
        };
        let own_key = format!(
            "{{{}}}",
            matchers
                .iter()
                .map(Matcher::key_text)
                .collect::<Vec<_>>()
                .join(",")
        );
        let route = Route {
            key: match inherited {
                Some(p) => format!("{}/{own_key}", p.key),
                None => own_key,
            },
            group_wait_ms: timing(
                config.group_wait,
                |r| r.group_wait_ms,
                crate::config::DEFAULT_GROUP_WAIT,
            ),
            group_interval_ms: timing(
                config.group_interval,
                |r| r.group_interval_ms,
                crate::config::DEFAULT_GROUP_INTERVAL,
            ),
            repeat_interval_ms: timing(
                config.repeat_interval,
                |r| r.repeat_interval_ms,
                crate::config::DEFAULT_REPEAT_INTERVAL,
            ),
            matchers,
            receivers,
            group_by,
            continue_matching: config.continue_matching,
            children: Vec::new(),
        };
        self.routes.push(route);
        let id = self.routes.len() - 1;
        for child in &config.routes {
            let child = self.add(child, Some(id), channels)?;
            self.routes[id].children.push(child);
        }
        Ok(id)
    }

    /// The routes `labels` go to, from the top.
    pub(super) fn matching(&self, labels: &Labels) -> Vec<usize> {
        self.matching_from(0, labels)
    }

    /// The routes `labels` go to (Alertmanager's `Route.Match`).
    fn matching_from(&self, route: usize, labels: &Labels) -> Vec<usize> {
        let r = &self.routes[route];
        if !all_match(&r.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for &child in &r.children {
            let matches = self.matching_from(child, labels);
            let matched = !matches.is_empty();
            all.extend(matches);
            if matched && !self.routes[child].continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(route);
        }
        all
    }
}

impl std::ops::Index<usize> for Routes {
    type Output = Route;

    fn index(&self, id: usize) -> &Route {
        &self.routes[id]
    }
}
