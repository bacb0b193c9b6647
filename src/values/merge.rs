//! Helm's merge of a values chain, keeping for every node the layer that set it.
//!
//! The merge works on a tree of [`MNode`]s that borrow from the parsed layers: a subtree that
//! only one layer wrote stays a reference to that layer's JSON ("whole"), and only maps that
//! several layers wrote are split into entries. The result is cloned into JSON once, and the
//! provenance index records one entry per split map and per whole subtree, not per leaf: a
//! leaf inside a whole subtree has the same pointer (relative to the subtree) in the layer
//! that wrote it, so its position is a lookup in that layer's own span index.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::{NodeSpan, Origin, ParsedLayer, YamlError, is_at_or_under, parent_pointer, push_key};

/// Settings of a chain merge that depend on the chart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// The chart's enabled dependencies, by the key their values live under (the alias when
    /// there is one, e.g. `backend-api`). Helm keeps `null`s inside these blocks through the
    /// umbrella's merge so they can delete the dependency's own defaults in
    /// [`scope_subchart`]. Helm drops disabled dependencies before this merge, so leave them
    /// out.
    pub subcharts: Vec<String>,
}

/// The JSON type of a value, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Map,
    List,
    String,
    Number,
    Bool,
    Null,
}

impl ValueKind {
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Object(_) => ValueKind::Map,
            Value::Array(_) => ValueKind::List,
            Value::String(_) => ValueKind::String,
            Value::Number(_) => ValueKind::Number,
            Value::Bool(_) => ValueKind::Bool,
            Value::Null => ValueKind::Null,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Map => "map",
            ValueKind::List => "list",
            ValueKind::String => "string",
            ValueKind::Number => "number",
            ValueKind::Bool => "bool",
            ValueKind::Null => "null",
        }
    }
}

impl std::fmt::Display for ValueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user value replaced a chart default of another shape: a map over a non-map default or a
/// non-map over a map default. The user value wins; Helm prints a "coalesce" warning for it
/// (except for a non-map over a map at the chart's top level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeChange {
    /// Pointer in the merged values.
    pub pointer: String,
    pub default_kind: ValueKind,
    pub user_kind: ValueKind,
    /// Where the winning user value is written (its layer is `user.layer`).
    pub user: Option<Origin>,
    /// Where the default is written.
    pub default: Option<Origin>,
}

/// An empty map (`envFrom: {}`) written over a non-empty map: it clears nothing, the keys of
/// the map below stay. To drop a whole map, write `null`; to drop one key, set it to `null`
/// (or whatever the chart documents, like `false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyMapOverride {
    /// Pointer in the merged values.
    pub pointer: String,
    /// Where the `{}` is written.
    pub at: Option<Origin>,
    /// Where the map that stays is written (the chart's defaults or an earlier layer).
    pub kept: Option<Origin>,
    /// How many keys that map has.
    pub kept_keys: usize,
}

/// The result of merging a chain: the values helm renders with, where each came from, and
/// the merge events a user should know about.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged values (always a JSON object).
    pub value: Value,
    pub provenance: Provenance,
    pub type_changes: Vec<TypeChange>,
    pub empty_map_overrides: Vec<EmptyMapOverride>,
}

/// What one layer of the chain says about one pointer, for [`Merged::history`].
#[derive(Debug, Clone, PartialEq)]
pub struct LayerValue<'a> {
    /// Position of the layer in [`Provenance::layers`].
    pub layer: usize,
    pub file: &'a str,
    /// The pointer inside that file.
    pub pointer: String,
    /// The value the layer gives there, `None` when it does not set it.
    pub value: Option<&'a Value>,
    pub span: Option<NodeSpan>,
}

/// Every layer's say on one pointer, and which one won.
#[derive(Debug, Clone, PartialEq)]
pub struct History<'a> {
    pub pointer: String,
    /// In precedence order, lowest first: a subchart's own `values.yaml`, then the chart's
    /// defaults, then each layer of the chain.
    pub layers: Vec<LayerValue<'a>>,
    /// Index into `layers` of the layer that set the merged value last; `None` when the
    /// merged values do not have the pointer (never set, or deleted by a `null`).
    pub winner: Option<usize>,
    /// The merged value.
    pub value: Option<&'a Value>,
}

/// How a pointer of the merged values maps into one layer's file: pointers at or under
/// `from` become `to` followed by the rest of the pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    layer: usize,
    /// `None` when the view covers nothing (kept so view numbers stay stable).
    from: Option<String>,
    to: String,
}

impl View {
    fn whole(layer: usize) -> Self {
        View {
            layer,
            from: Some(String::new()),
            to: String::new(),
        }
    }

    fn map(&self, pointer: &str) -> Option<String> {
        let from = self.from.as_deref()?;
        if !is_at_or_under(pointer, from) {
            return None;
        }
        Some(format!("{}{}", self.to, &pointer[from.len()..]))
    }

    /// The same view for a tree whose `old_root` subtree now sits at `new_root`.
    fn rebase(&self, old_root: &str, new_root: &str, layer: usize) -> View {
        let from = self.from.as_deref().and_then(|from| {
            if is_at_or_under(old_root, from) {
                // Everything under old_root is covered.
                Some((
                    new_root.to_string(),
                    format!("{}{}", self.to, &old_root[from.len()..]),
                ))
            } else if is_at_or_under(from, old_root) {
                Some((
                    format!("{new_root}{}", &from[old_root.len()..]),
                    self.to.clone(),
                ))
            } else {
                None
            }
        });
        match from {
            Some((from, to)) => View {
                layer,
                from: Some(from),
                to,
            },
            None => View {
                layer,
                from: None,
                to: String::new(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    view: u32,
    /// The whole subtree below comes from this view unchanged.
    whole: bool,
}

/// Where every node of merged values came from: the layer (file) and position that set it
/// last.
///
/// Lookups cost a few hash lookups per level of the pointer, whatever the size of the values.
#[derive(Debug, Clone)]
pub struct Provenance {
    chain: Vec<ParsedLayer>,
    /// Layers `0..merged_layers` are the chain that was merged, in precedence order; those
    /// after were appended by [`Merged::embed_subchart`]: a subchart's own `values.yaml`,
    /// below every layer of the chain for the subtree it fills.
    merged_layers: usize,
    views: Vec<View>,
    entries: HashMap<String, Entry>,
}

impl Provenance {
    /// The files of the chain, lowest precedence first; [`Origin::layer`] indexes this.
    pub fn layers(&self) -> &[ParsedLayer] {
        &self.chain
    }

    /// The file names of the chain, lowest precedence first.
    pub fn files(&self) -> Vec<&str> {
        self.chain.iter().map(|l| l.file()).collect()
    }

    /// Number of entries in the index (merged maps and subtrees taken whole from one layer).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where the node at `pointer` was set last, or, when the merged values do not have it,
    /// its nearest ancestor that they have ([`Origin::exact`] tells which). This is the
    /// position to show for a schema error about a missing property.
    ///
    /// For a map entry the position is the key's (`pull-ce:` in the last file that wrote the
    /// `pull-ce` entry), for a list item the item's.
    pub fn locate(&self, pointer: &str) -> Option<Origin> {
        let (at, entry) = self.nearest(pointer)?;
        if at == pointer || entry.whole {
            origin_in(&self.chain, &self.views, entry.view, pointer)
        } else {
            // A merged map without this child: the merged values lack the pointer.
            origin_in(&self.chain, &self.views, entry.view, at).map(|mut o| {
                o.exact = false;
                o
            })
        }
    }

    /// Where the node at `pointer` was set last; `None` when the merged values lack it.
    ///
    /// For an object key such as `/backend-api/cronJobs/pull-ce`, this is the key's line in
    /// the last file that wrote that entry.
    pub fn origin(&self, pointer: &str) -> Option<Origin> {
        self.locate(pointer).filter(|o| o.exact)
    }

    /// The nearest pointer at or above `pointer` that has an index entry.
    fn nearest<'p>(&self, pointer: &'p str) -> Option<(&'p str, Entry)> {
        let mut at = pointer;
        loop {
            if let Some(entry) = self.entries.get(at) {
                return Some((at, *entry));
            }
            at = parent_pointer(at)?;
        }
    }
}

/// The origin of `pointer` as view `view` maps it; walks up inside the layer when the layer
/// lacks the node itself (then `exact` is false).
fn origin_in(chain: &[ParsedLayer], views: &[View], view: u32, pointer: &str) -> Option<Origin> {
    let view = &views[view as usize];
    let layer = &chain[view.layer];
    let wanted = view.map(pointer)?;
    let mut at = wanted.as_str();
    loop {
        if let Some(span) = layer.span(at) {
            let primary = span.primary();
            return Some(Origin {
                layer: view.layer,
                file: layer.file().to_string(),
                line: primary.line,
                column: primary.column,
                pointer: at.to_string(),
                exact: at == wanted,
            });
        }
        at = parent_pointer(at)?;
    }
}

impl Merged {
    /// The merged value at a pointer.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.value.pointer(pointer)
    }

    /// See [`Provenance::locate`].
    pub fn locate(&self, pointer: &str) -> Option<Origin> {
        self.provenance.locate(pointer)
    }

    /// See [`Provenance::origin`].
    pub fn origin(&self, pointer: &str) -> Option<Origin> {
        self.value.pointer(pointer)?;
        self.provenance.origin(pointer)
    }

    /// What every layer says about `pointer`, and which layer won: the data of
    /// `stackctl values --path`.
    ///
    /// ```
    /// use stackctl::values::{merge_chain, parse_layer};
    /// let defaults = parse_layer("values.yaml", "replicaCount: 1\n")?;
    /// let aws = parse_layer("envs/aws.yaml", "other: x\n")?;
    /// let prod = parse_layer("envs/prod/console.yaml", "replicaCount: 3\n")?;
    /// let merged = merge_chain(&defaults, &[aws, prod]);
    /// let history = merged.history("/replicaCount");
    /// let said: Vec<_> = history.layers.iter().map(|l| l.value.cloned()).collect();
    /// assert_eq!(said, vec![Some(1.into()), None, Some(3.into())]);
    /// assert_eq!(history.winner, Some(2));
    /// # Ok::<(), stackctl::values::YamlError>(())
    /// ```
    pub fn history(&self, pointer: &str) -> History<'_> {
        let prov = &self.provenance;
        let mut layers: Vec<LayerValue<'_>> = Vec::new();
        let mut by_view: Vec<Option<usize>> = vec![None; prov.views.len()];
        for (index, view) in prov.views.iter().enumerate() {
            let Some(in_layer) = view.map(pointer) else {
                continue;
            };
            let existing = layers
                .iter()
                .position(|l| l.layer == view.layer && l.pointer == in_layer);
            let position = match existing {
                Some(position) => position,
                None => {
                    let layer = &prov.chain[view.layer];
                    layers.push(LayerValue {
                        layer: view.layer,
                        file: layer.file(),
                        value: layer.get(&in_layer),
                        span: layer.span(&in_layer),
                        pointer: in_layer,
                    });
                    layers.len() - 1
                }
            };
            by_view[index] = Some(position);
        }
        let value = self.value.pointer(pointer);
        let winner = value
            .and_then(|_| prov.nearest(pointer))
            .and_then(|(at, entry)| (at == pointer || entry.whole).then_some(entry.view))
            .and_then(|view| by_view[view as usize]);
        // Precedence order, lowest first, even when a layer shows up through several views: a
        // subchart's own defaults (appended to the chain when embedded) before the chain.
        let mut order: Vec<usize> = (0..layers.len()).collect();
        order.sort_by_key(|&i| (layers[i].layer < prov.merged_layers, layers[i].layer));
        let winner = winner.and_then(|w| order.iter().position(|&i| i == w));
        let mut sorted = Vec::with_capacity(layers.len());
        let mut slots: Vec<Option<LayerValue<'_>>> = layers.into_iter().map(Some).collect();
        for i in order {
            sorted.push(slots[i].take().expect("each slot is taken once"));
        }
        History {
            pointer: pointer.to_string(),
            layers: sorted,
            winner,
            value,
        }
    }

    /// Put a dependency's effective values (from [`scope_subchart`]) under its key, as Helm's
    /// final values have them, with their provenance.
    pub fn embed_subchart(&mut self, alias: &str, scoped: &Merged) {
        let root = super::pointer([alias]);
        if let Value::Object(map) = &mut self.value {
            map.insert(alias.to_string(), scoped.value.clone());
        }
        let prov = &mut self.provenance;
        prov.entries.retain(|p, _| !is_at_or_under(p, &root));
        let layer_index: Vec<usize> = scoped
            .provenance
            .chain
            .iter()
            .map(
                |layer| match prov.chain.iter().position(|l| l.same_as(layer)) {
                    Some(i) => i,
                    None => {
                        prov.chain.push(layer.clone());
                        prov.chain.len() - 1
                    }
                },
            )
            .collect();
        let offset = prov.views.len() as u32;
        for view in &scoped.provenance.views {
            prov.views
                .push(view.rebase("", &root, layer_index[view.layer]));
        }
        for (p, entry) in &scoped.provenance.entries {
            prov.entries.insert(
                format!("{root}{p}"),
                Entry {
                    view: entry.view + offset,
                    whole: entry.whole,
                },
            );
        }
        let reorigin = |o: &Option<Origin>| {
            o.clone().map(|mut o| {
                o.layer = layer_index[o.layer];
                o
            })
        };
        for change in &scoped.type_changes {
            self.type_changes.push(TypeChange {
                pointer: format!("{root}{}", change.pointer),
                user: reorigin(&change.user),
                default: reorigin(&change.default),
                ..change.clone()
            });
        }
        for empty in &scoped.empty_map_overrides {
            self.empty_map_overrides.push(EmptyMapOverride {
                pointer: format!("{root}{}", empty.pointer),
                at: reorigin(&empty.at),
                kept: reorigin(&empty.kept),
                kept_keys: empty.kept_keys,
            });
        }
    }
}

/// A node of the tree being merged.
#[derive(Debug)]
enum MNode<'a> {
    /// A subtree one layer wrote and nothing merged into.
    Whole { view: u32, value: &'a Value },
    /// A map several layers wrote; `view` is the last one that wrote it.
    Map {
        view: u32,
        entries: IndexMap<&'a str, MNode<'a>>,
    },
    /// Moved out during a merge.
    Taken,
}

impl<'a> MNode<'a> {
    fn view(&self) -> u32 {
        match self {
            MNode::Whole { view, .. } | MNode::Map { view, .. } => *view,
            MNode::Taken => unreachable!("taken nodes are not inspected"),
        }
    }

    fn is_map(&self) -> bool {
        matches!(
            self,
            MNode::Map { .. }
                | MNode::Whole {
                    value: Value::Object(_),
                    ..
                }
        )
    }

    fn is_null(&self) -> bool {
        matches!(
            self,
            MNode::Whole {
                value: Value::Null,
                ..
            }
        )
    }

    fn map_len(&self) -> usize {
        match self {
            MNode::Map { entries, .. } => entries.len(),
            MNode::Whole {
                value: Value::Object(map),
                ..
            } => map.len(),
            _ => 0,
        }
    }

    fn kind(&self) -> ValueKind {
        match self {
            MNode::Whole { value, .. } => ValueKind::of(value),
            _ => ValueKind::Map,
        }
    }

    /// The entries of a map node, splitting a whole map one level.
    fn into_map(self) -> (u32, IndexMap<&'a str, MNode<'a>>) {
        match self {
            MNode::Map { view, entries } => (view, entries),
            MNode::Whole {
                view,
                value: Value::Object(map),
            } => (view, split(view, map)),
            _ => unreachable!("into_map is called on maps"),
        }
    }

    /// Make this map node a split map written last by `view`, and give its entries.
    fn touch(&mut self, new_view: u32) -> &mut IndexMap<&'a str, MNode<'a>> {
        if let MNode::Whole {
            view,
            value: Value::Object(map),
        } = self
        {
            *self = MNode::Map {
                view: *view,
                entries: split(*view, map),
            };
        }
        match self {
            MNode::Map { view, entries } => {
                *view = new_view;
                entries
            }
            _ => unreachable!("touch is called on maps"),
        }
    }
}

fn split<'a>(view: u32, map: &'a Map<String, Value>) -> IndexMap<&'a str, MNode<'a>> {
    map.iter()
        .map(|(k, value)| (k.as_str(), MNode::Whole { view, value }))
        .collect()
}

/// What the merge functions share: the chain (for positions in events) and the events.
struct Cx<'c> {
    chain: &'c [ParsedLayer],
    views: &'c [View],
    path: Vec<String>,
    record: bool,
    type_changes: Vec<TypeChange>,
    empty_map_overrides: Vec<EmptyMapOverride>,
}

impl Cx<'_> {
    fn pointer(&self) -> String {
        super::pointer(&self.path)
    }

    fn origin(&self, view: u32, pointer: &str) -> Option<Origin> {
        origin_in(self.chain, self.views, view, pointer)
    }

    fn type_change(&mut self, default: &MNode<'_>, user: &MNode<'_>) {
        if !self.record {
            return;
        }
        let pointer = self.pointer();
        self.type_changes.push(TypeChange {
            default_kind: default.kind(),
            user_kind: user.kind(),
            user: self.origin(user.view(), &pointer),
            default: self.origin(default.view(), &pointer),
            pointer,
        });
    }

    fn empty_map(&mut self, empty_view: u32, kept: &MNode<'_>) {
        if !self.record {
            return;
        }
        let pointer = self.pointer();
        self.empty_map_overrides.push(EmptyMapOverride {
            at: self.origin(empty_view, &pointer),
            kept: self.origin(kept.view(), &pointer),
            kept_keys: kept.map_len(),
            pointer,
        });
    }
}

/// Merge one `-f` layer into the user values merged so far (Helm's `mergeMaps`): maps merge
/// key by key, anything else replaces (`null` included).
fn merge_user<'a>(
    dst: &mut IndexMap<&'a str, MNode<'a>>,
    src: &'a Map<String, Value>,
    view: u32,
    cx: &mut Cx<'_>,
) {
    for (key, value) in src {
        if let Value::Object(map) = value
            && let Some(existing) = dst.get_mut(key.as_str())
            && existing.is_map()
        {
            cx.path.push(key.clone());
            if map.is_empty() && existing.map_len() > 0 {
                cx.empty_map(view, existing);
            }
            let entries = existing.touch(view);
            merge_user(entries, map, view, cx);
            cx.path.pop();
            continue;
        }
        dst.insert(key.as_str(), MNode::Whole { view, value });
    }
}

/// Coalesce user values onto chart defaults (Helm's `coalesceValues` at the top of a chart
/// and `coalesceTablesFullKey` below): the user value wins; a user map merges into a default
/// map; a user `null` deletes the key when the defaults have it, unless `keep_nulls` (inside
/// a dependency's block during the umbrella's merge). Keys keep the defaults' order, then the
/// keys only the user wrote.
fn coalesce<'a>(
    user: MNode<'a>,
    defaults: MNode<'a>,
    keep_nulls: bool,
    subcharts: &[String],
    cx: &mut Cx<'_>,
) -> MNode<'a> {
    let (view, mut user) = user.into_map();
    let (_, defaults) = defaults.into_map();
    let mut out: IndexMap<&'a str, MNode<'a>> =
        IndexMap::with_capacity(defaults.len().max(user.len()));
    for (key, default) in defaults {
        let Some(slot) = user.get_mut(key) else {
            out.insert(key, default);
            continue;
        };
        let mine = std::mem::replace(slot, MNode::Taken);
        if mine.is_null() && !keep_nulls {
            continue;
        }
        cx.path.push(key.to_string());
        if mine.is_map() && default.is_map() {
            if mine.map_len() == 0 && default.map_len() > 0 {
                cx.empty_map(mine.view(), &default);
            }
            let keep = keep_nulls || subcharts.iter().any(|s| s == key);
            out.insert(key, coalesce(mine, default, keep, &[], cx));
        } else {
            let changed = if mine.is_map() {
                !default.is_null()
            } else {
                default.is_map() && !mine.is_null()
            };
            if changed {
                cx.type_change(&default, &mine);
            }
            out.insert(key, mine);
        }
        cx.path.pop();
    }
    for (key, mine) in user {
        if !matches!(mine, MNode::Taken) {
            out.insert(key, mine);
        }
    }
    MNode::Map { view, entries: out }
}

/// Turn the merge tree into JSON and the provenance index.
fn materialize(
    node: MNode<'_>,
    pointer: &mut String,
    entries: &mut HashMap<String, Entry>,
) -> Value {
    match node {
        MNode::Whole { view, value } => {
            entries.insert(pointer.clone(), Entry { view, whole: true });
            value.clone()
        }
        MNode::Map { view, entries: map } => {
            entries.insert(pointer.clone(), Entry { view, whole: false });
            let mut out = Map::with_capacity(map.len());
            for (key, child) in map {
                let len = pointer.len();
                push_key(pointer, key);
                let value = materialize(child, pointer, entries);
                pointer.truncate(len);
                out.insert(key.to_string(), value);
            }
            Value::Object(out)
        }
        MNode::Taken => unreachable!("taken nodes are removed before materializing"),
    }
}

/// Merge a chart's defaults and the `-f` layers, in order, as Helm does for a chart without
/// dependencies. See [`merge_chain_with`].
///
/// ```
/// use stackctl::values::{merge_chain, parse_layer};
/// let defaults = parse_layer("values.yaml", "ingress:\n  hosts: {a: [], b: []}\n  tls: [x]\n")?;
/// let env = parse_layer("env.yaml", "ingress:\n  hosts: {c: []}\n  tls: []\n")?;
/// let merged = merge_chain(&defaults, &[env]);
/// // Maps merge, lists replace.
/// assert_eq!(merged.value["ingress"]["hosts"], serde_json::json!({"a": [], "b": [], "c": []}));
/// assert_eq!(merged.value["ingress"]["tls"], serde_json::json!([]));
/// # Ok::<(), stackctl::values::YamlError>(())
/// ```
pub fn merge_chain(defaults: &ParsedLayer, layers: &[ParsedLayer]) -> Merged {
    merge_chain_with(defaults, layers, &MergeOptions::default())
}

/// Merge a chart's defaults and the `-f` layers, in order, as Helm does: first the layers
/// among themselves (maps merge, everything else replaces, `null` included), then the result
/// onto the defaults (a `null` deletes a default key; a `null` the defaults do not have stays
/// `null`; inside `options.subcharts` blocks `null`s stay for [`scope_subchart`]).
///
/// ```
/// use stackctl::values::{MergeOptions, merge_chain_with, parse_layer};
/// let defaults = parse_layer("values.yaml", "a: {b: 1, c: 2}\nbackend-api: {cronJobs: {x: 1}}\n")?;
/// let env = parse_layer("env.yaml", "a: {b: null}\nbackend-api: {cronJobs: null}\n")?;
/// let options = MergeOptions { subcharts: vec!["backend-api".into()] };
/// let merged = merge_chain_with(&defaults, &[env], &options);
/// assert_eq!(merged.value["a"], serde_json::json!({"c": 2}));
/// // Kept so that the dependency's own `cronJobs` default is deleted when it is scoped.
/// assert_eq!(merged.value["backend-api"]["cronJobs"], serde_json::Value::Null);
/// # Ok::<(), stackctl::values::YamlError>(())
/// ```
pub fn merge_chain_with(
    defaults: &ParsedLayer,
    layers: &[ParsedLayer],
    options: &MergeOptions,
) -> Merged {
    let chain: Vec<ParsedLayer> = std::iter::once(defaults).chain(layers).cloned().collect();
    let views: Vec<View> = (0..chain.len()).map(View::whole).collect();
    let mut cx = Cx {
        chain: &chain,
        views: &views,
        path: Vec::new(),
        record: true,
        type_changes: Vec::new(),
        empty_map_overrides: Vec::new(),
    };
    let mut user = IndexMap::new();
    let mut root_view = 0;
    for (i, layer) in layers.iter().enumerate() {
        root_view = (i + 1) as u32;
        let map = layer.value().as_object().expect("a parsed layer is a map");
        merge_user(&mut user, map, root_view, &mut cx);
    }
    let user = MNode::Map {
        view: root_view,
        entries: user,
    };
    let defaults_node = MNode::Whole {
        view: 0,
        value: defaults.value(),
    };
    let merged = coalesce(user, defaults_node, false, &options.subcharts, &mut cx);
    let (type_changes, empty_map_overrides) = (cx.type_changes, cx.empty_map_overrides);
    let mut entries = HashMap::new();
    let value = materialize(merged, &mut String::new(), &mut entries);
    Merged {
        value,
        provenance: Provenance {
            merged_layers: chain.len(),
            chain,
            views,
            entries,
        },
        type_changes,
        empty_map_overrides,
    }
}

/// Rebuild a merge tree for a subtree of merged values from their provenance, with view
/// numbers shifted by `offset`.
fn rebuild<'a>(
    prov: &Provenance,
    value: &'a Value,
    pointer: &mut String,
    offset: u32,
    inherited: u32,
) -> MNode<'a> {
    match (prov.entries.get(pointer.as_str()), value) {
        (Some(entry), Value::Object(map)) if !entry.whole => {
            let view = entry.view + offset;
            let mut entries = IndexMap::with_capacity(map.len());
            for (key, child) in map {
                let len = pointer.len();
                push_key(pointer, key);
                entries.insert(key.as_str(), rebuild(prov, child, pointer, offset, view));
                pointer.truncate(len);
            }
            MNode::Map { view, entries }
        }
        (Some(entry), _) => MNode::Whole {
            view: entry.view + offset,
            value,
        },
        (None, _) => MNode::Whole {
            view: inherited,
            value,
        },
    }
}

/// The values a dependency sees, as Helm computes them: the dependency's own defaults
/// (`sub_defaults`, its `values.yaml`) under the umbrella's merged block at `alias`, with the
/// umbrella's `global` merged into the block's `global` (the umbrella's wins). `umbrella`
/// should come from [`merge_chain_with`] with `alias` among the subcharts, so `null`s in the
/// block delete the dependency's defaults.
///
/// Pointers of the result are the dependency's (`/image/tag`); [`Origin::pointer`] gives the
/// pointer in the file that set it (`/backend-api/image/tag` in an env file, `/image/tag` in
/// the dependency's `values.yaml`, `/global/env` in an env file for globals).
///
/// Skipping disabled dependencies (`<alias>.enabled: false`) is the caller's job. An `alias`
/// block that is not a map is an error, as in Helm.
///
/// ```
/// use stackctl::values::{MergeOptions, merge_chain_with, parse_layer, scope_subchart};
/// let umbrella = parse_layer("charts/jetscale/values.yaml",
///     "global: {env: prod}\nbackend-api: {replicaCount: 1}\n")?;
/// let env = parse_layer("envs/prod/console.yaml",
///     "global: {env: prod}\nbackend-api:\n  envFrom: null\n  image: {tag: \"4.6.12\"}\n")?;
/// let backend = parse_layer("backend/values.yaml",
///     "image: {repository: backend, tag: latest}\nenvFrom: {config: {}}\n")?;
/// let options = MergeOptions { subcharts: vec!["backend-api".into()] };
/// let merged = merge_chain_with(&umbrella, &[env], &options);
/// let scoped = scope_subchart(&merged, "backend-api", &backend)?;
/// assert_eq!(scoped.value["image"], serde_json::json!({"repository": "backend", "tag": "4.6.12"}));
/// assert_eq!(scoped.value["global"]["env"], "prod");
/// assert!(scoped.value.get("envFrom").is_none());
/// let origin = scoped.provenance.locate("/image/tag").unwrap();
/// assert_eq!((origin.file.as_str(), origin.line, origin.pointer.as_str()),
///            ("envs/prod/console.yaml", 4, "/backend-api/image/tag"));
/// # Ok::<(), stackctl::values::YamlError>(())
/// ```
pub fn scope_subchart(
    umbrella: &Merged,
    alias: &str,
    sub_defaults: &ParsedLayer,
) -> Result<Merged, YamlError> {
    let up = &umbrella.provenance;
    let root = super::pointer([alias]);
    let chain: Vec<ParsedLayer> = std::iter::once(sub_defaults)
        .chain(&up.chain)
        .cloned()
        .collect();
    let n = up.views.len() as u32;
    let mut views = vec![View::whole(0)];
    views.extend(up.views.iter().map(|v| v.rebase(&root, "", v.layer + 1)));
    views.extend(
        up.views
            .iter()
            .map(|v| v.rebase("/global", "/global", v.layer + 1)),
    );
    let (alias_offset, global_offset) = (1, 1 + n);

    let mut block = match umbrella.value.get(alias) {
        None | Some(Value::Null) => MNode::Map {
            view: 0,
            entries: IndexMap::new(),
        },
        Some(value @ Value::Object(_)) => {
            rebuild(up, value, &mut root.clone(), alias_offset, alias_offset)
        }
        Some(other) => {
            let origin = up.locate(&root);
            let (file, at) = origin.map_or(
                (sub_defaults.file().to_string(), super::Span::new(1, 1)),
                |o| (o.file, super::Span::new(o.line, o.column)),
            );
            return Err(YamlError::new(
                &file,
                at,
                format!(
                    "`{alias}` holds the values of the dependency `{alias}` and must be a map, not a {}",
                    ValueKind::of(other)
                ),
            ));
        }
    };

    let mut cx = Cx {
        chain: &chain,
        views: &views,
        path: Vec::new(),
        record: false,
        type_changes: Vec::new(),
        empty_map_overrides: Vec::new(),
    };
    if let Some(global @ Value::Object(_)) = umbrella.value.get("global") {
        let sg = rebuild(
            up,
            global,
            &mut "/global".to_string(),
            global_offset,
            global_offset,
        );
        cx.path.push("global".to_string());
        coalesce_globals(&mut block, sg, &mut cx);
        cx.path.clear();
    }
    cx.record = true;
    let defaults_node = MNode::Whole {
        view: 0,
        value: sub_defaults.value(),
    };
    let merged = coalesce(block, defaults_node, false, &[], &mut cx);
    let (type_changes, empty_map_overrides) = (cx.type_changes, cx.empty_map_overrides);
    let mut entries = HashMap::new();
    let value = materialize(merged, &mut String::new(), &mut entries);
    Ok(Merged {
        value,
        provenance: Provenance {
            merged_layers: chain.len(),
            chain,
            views,
            entries,
        },
        type_changes,
        empty_map_overrides,
    })
}

/// Helm's `coalesceGlobals`: the umbrella's globals go into the block's `global`; for a map
/// both have, the umbrella's keys win and the block's others stay; a map on one side and a
/// non-map on the other is skipped.
fn coalesce_globals<'a>(block: &mut MNode<'a>, umbrella_global: MNode<'a>, cx: &mut Cx<'_>) {
    let block_view = block.view();
    let entries = block.touch(block_view);
    let (global_view, mut global) = match entries.get_mut("global") {
        None => (umbrella_global.view(), IndexMap::new()),
        Some(node) if node.is_map() => std::mem::replace(node, MNode::Taken).into_map(),
        // Helm: "skipping globals because destination global is not a table".
        Some(_) => return,
    };
    let (_, from_umbrella) = umbrella_global.into_map();
    for (key, value) in from_umbrella {
        match global.get_mut(key) {
            None => {
                global.insert(key, value);
            }
            Some(mine) if value.is_map() => {
                if mine.is_map() {
                    let theirs = std::mem::replace(mine, MNode::Taken);
                    cx.path.push(key.to_string());
                    *mine = coalesce(value, theirs, true, &[], cx);
                    cx.path.pop();
                }
            }
            Some(mine) => {
                if !mine.is_map() {
                    *mine = value;
                }
            }
        }
    }
    entries.insert(
        "global",
        MNode::Map {
            view: global_view,
            entries: global,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::parse_layer;
    use serde_json::json;

    fn layer(file: &str, text: &str) -> ParsedLayer {
        parse_layer(file, text).unwrap()
    }

    fn defaults(text: &str) -> ParsedLayer {
        layer("charts/jetscale/values.yaml", text)
    }

    fn at(merged: &Merged, pointer: &str) -> (String, usize) {
        let o = merged
            .locate(pointer)
            .unwrap_or_else(|| panic!("no origin for {pointer}"));
        (o.file, o.line)
    }

    #[test]
    fn maps_deep_merge_across_layers() {
        let d = defaults("a:\n  b: 1\n  c: 2\n");
        let l1 = layer("l1.yaml", "a:\n  c: 3\n  d: 4\n");
        let l2 = layer("l2.yaml", "a:\n  e: 5\n");
        let merged = merge_chain(&d, &[l1, l2]);
        assert_eq!(merged.value, json!({"a": {"b": 1, "c": 3, "d": 4, "e": 5}}));
        assert!(merged.type_changes.is_empty());
    }

    #[test]
    fn lists_and_scalars_replace() {
        let d = defaults("l: [1, 2, 3]\ns: a\n");
        let l1 = layer("l1.yaml", "l: [9]\n");
        let l2 = layer("l2.yaml", "s: b\n");
        let merged = merge_chain(&d, &[l1, l2]);
        assert_eq!(merged.value, json!({"l": [9], "s": "b"}));
        assert_eq!(at(&merged, "/l/0"), ("l1.yaml".into(), 1));
        assert!(merged.locate("/l/1").is_some_and(|o| !o.exact));
    }

    #[test]
    fn null_deletes_a_default_key() {
        let d = defaults("a:\n  b: 1\n  c: 2\nkeep: 1\n");
        let env = layer("env.yaml", "a:\n  b: null\nkeep: ~\n");
        let merged = merge_chain(&d, &[env]);
        assert_eq!(merged.value, json!({"a": {"c": 2}}));
        assert!(merged.origin("/a/b").is_none());
        let history = merged.history("/a/b");
        assert_eq!(history.winner, None);
        assert_eq!(history.layers[1].value, Some(&Value::Null));
    }

    #[test]
    fn null_for_a_key_the_defaults_lack_stays_null() {
        // helm 3.17.2 and 4.3.1 both keep these.
        let d = defaults("m:\n  a: 1\n");
        let env = layer("env.yaml", "m:\n  new: null\ntop: null\n");
        let merged = merge_chain(&d, &[env]);
        assert_eq!(
            merged.value,
            json!({"m": {"a": 1, "new": null}, "top": null})
        );
        assert_eq!(at(&merged, "/m/new"), ("env.yaml".into(), 2));
    }

    #[test]
    fn null_then_set_again() {
        let d = defaults("m:\n  b: {c: 2}\nkeep: 1\n");
        let l1 = layer("l1.yaml", "m:\n  b: {c: 3}\nkeep: 9\n");
        let l2 = layer("l2.yaml", "m:\n  b: null\nkeep: null\n");
        let l3 = layer("l3.yaml", "m:\n  b: 5\nkeep: 10\n");
        let merged = merge_chain(&d, &[l1.clone(), l2.clone(), l3]);
        assert_eq!(merged.value, json!({"m": {"b": 5}, "keep": 10}));
        assert_eq!(at(&merged, "/m/b"), ("l3.yaml".into(), 2));
        // Without the last layer the null deletes.
        let merged = merge_chain(&d, &[l1, l2]);
        assert_eq!(merged.value, json!({"m": {}}));
    }

    #[test]
    fn type_changes_are_recorded() {
        let d = defaults("m:\n  b: {c: 2}\n  s: str\n  l: [1]\n  nn: null\ntop: {x: 1}\n");
        let l1 = layer("l1.yaml", "m:\n  s: {x: 1}\n");
        let l2 = layer("l2.yaml", "m:\n  b: 5\n  l: {w: 1}\n  nn: {z: 1}\ntop: 3\n");
        let merged = merge_chain(&d, &[l1, l2]);
        assert_eq!(
            merged.value,
            json!({"m": {"b": 5, "s": {"x": 1}, "l": {"w": 1}, "nn": {"z": 1}}, "top": 3})
        );
        let changes: Vec<_> = merged
            .type_changes
            .iter()
            .map(|c| {
                (
                    c.pointer.as_str(),
                    c.default_kind,
                    c.user_kind,
                    c.user.as_ref().map(|o| (o.file.as_str(), o.line)),
                )
            })
            .collect();
        assert_eq!(
            changes,
            vec![
                (
                    "/m/b",
                    ValueKind::Map,
                    ValueKind::Number,
                    Some(("l2.yaml", 2))
                ),
                (
                    "/m/s",
                    ValueKind::String,
                    ValueKind::Map,
                    Some(("l1.yaml", 2))
                ),
                (
                    "/m/l",
                    ValueKind::List,
                    ValueKind::Map,
                    Some(("l2.yaml", 3))
                ),
                (
                    "/top",
                    ValueKind::Map,
                    ValueKind::Number,
                    Some(("l2.yaml", 5))
                ),
            ]
        );
        let first = &merged.type_changes[0];
        assert_eq!(first.user.as_ref().unwrap().layer, 2);
        assert_eq!(
            first.default.as_ref().map(|o| (o.file.as_str(), o.line)),
            Some(("charts/jetscale/values.yaml", 2))
        );
    }

    #[test]
    fn empty_map_keeps_defaults_and_is_recorded() {
        let d = defaults("envFrom:\n  config: a\n  db: b\nempty: {}\n");
        let env = layer("envs/preview/preview.yaml", "envFrom: {}\nempty: {}\n");
        let merged = merge_chain(&d, &[env]);
        assert_eq!(merged.value["envFrom"], json!({"config": "a", "db": "b"}));
        assert_eq!(merged.empty_map_overrides.len(), 1);
        let event = &merged.empty_map_overrides[0];
        assert_eq!(event.pointer, "/envFrom");
        assert_eq!(event.kept_keys, 2);
        let at = event.at.as_ref().unwrap();
        assert_eq!(
            (at.file.as_str(), at.line, at.layer),
            ("envs/preview/preview.yaml", 1, 1)
        );
        assert_eq!(event.kept.as_ref().unwrap().layer, 0);
        // The map node itself was written last by the env file.
        assert_eq!(merged.origin("/envFrom").unwrap().layer, 1);
        assert_eq!(merged.origin("/envFrom/db").unwrap().layer, 0);
    }

    #[test]
    fn empty_map_over_an_earlier_layer_is_recorded() {
        let d = defaults("other: 1\n");
        let l1 = layer("l1.yaml", "cronJobs:\n  a: {suspend: true}\n");
        let l2 = layer("l2.yaml", "x: 1\ncronJobs: {}\n");
        let merged = merge_chain(&d, &[l1, l2]);
        assert_eq!(merged.value["cronJobs"], json!({"a": {"suspend": true}}));
        assert_eq!(merged.empty_map_overrides.len(), 1);
        let event = &merged.empty_map_overrides[0];
        assert_eq!(event.at.as_ref().unwrap().line, 2);
        assert_eq!(event.kept.as_ref().unwrap().file, "l1.yaml");
    }

    #[test]
    fn provenance_after_merge() {
        let d = defaults("image:\n  repository: backend\n  tag: dev\nreplicas: 1\n");
        let l1 = layer("envs/aws.yaml", "image:\n  pullPolicy: Always\n");
        let l2 = layer(
            "envs/prod/console.yaml",
            "# prod\nimage:\n  tag: \"4.6.12\"\n",
        );
        let merged = merge_chain(&d, &[l1, l2]);
        assert_eq!(
            at(&merged, "/image/tag"),
            ("envs/prod/console.yaml".into(), 3)
        );
        assert_eq!(
            at(&merged, "/image/pullPolicy"),
            ("envs/aws.yaml".into(), 2)
        );
        assert_eq!(
            at(&merged, "/image/repository"),
            ("charts/jetscale/values.yaml".into(), 2)
        );
        assert_eq!(
            at(&merged, "/replicas"),
            ("charts/jetscale/values.yaml".into(), 4)
        );
        // The map was written last by the prod file.
        assert_eq!(at(&merged, "/image"), ("envs/prod/console.yaml".into(), 2));
        let o = merged.origin("/image/tag").unwrap();
        assert_eq!((o.layer, o.column, o.exact), (2, 3, true));
        assert_eq!(o.to_string(), "envs/prod/console.yaml:3:3");
    }

    #[test]
    fn locate_falls_back_to_the_nearest_ancestor() {
        let d = defaults("a:\n  b:\n    x: 1\n");
        let env = layer("env.yaml", "a:\n  b:\n    y: 2\n");
        let merged = merge_chain(&d, &[env]);
        let o = merged.locate("/a/b/c").unwrap();
        assert_eq!((o.file.as_str(), o.line, o.exact), ("env.yaml", 2, false));
        assert_eq!(o.pointer, "/a/b");
        assert!(merged.origin("/a/b/c").is_none());
        // Inside a subtree that one layer wrote whole.
        let merged = merge_chain(&d, &[]);
        let o = merged.locate("/a/b/missing/deeper").unwrap();
        assert_eq!((o.line, o.exact, o.pointer.as_str()), (2, false, "/a/b"));
    }

    #[test]
    fn object_key_origin_for_rules() {
        let d = defaults(
            "backend-api:\n  cronJobs:\n    pull-co: {schedule: a}\n    pull-ce: {schedule: b}\n",
        );
        let env = layer(
            "envs/preview/preview.yaml",
            "backend-api:\n  cronJobs:\n    pull-co:\n      suspend: true\n",
        );
        let merged = merge_chain(&d, &[env]);
        let o = merged.origin("/backend-api/cronJobs/pull-co").unwrap();
        assert_eq!((o.file.as_str(), o.line), ("envs/preview/preview.yaml", 3));
        let o = merged.origin("/backend-api/cronJobs/pull-ce").unwrap();
        assert_eq!(
            (o.file.as_str(), o.line),
            ("charts/jetscale/values.yaml", 4)
        );
    }

    #[test]
    fn history_across_three_layers() {
        let d = defaults("a:\n  b: 1\n");
        let l1 = layer("l1.yaml", "a:\n  b: 2\n");
        let l2 = layer("l2.yaml", "other: 1\n");
        let l3 = layer("l3.yaml", "a:\n  c: 0\n  b: 3\n");
        let merged = merge_chain(&d, &[l1, l2, l3]);
        let h = merged.history("/a/b");
        let said: Vec<_> = h
            .layers
            .iter()
            .map(|l| (l.file, l.value.cloned(), l.span.map(|s| s.primary().line)))
            .collect();
        assert_eq!(
            said,
            vec![
                ("charts/jetscale/values.yaml", Some(json!(1)), Some(2)),
                ("l1.yaml", Some(json!(2)), Some(2)),
                ("l2.yaml", None, None),
                ("l3.yaml", Some(json!(3)), Some(3)),
            ]
        );
        assert_eq!(h.winner, Some(3));
        assert_eq!(h.value, Some(&json!(3)));
        // The untouched default wins when no layer sets it.
        let other = merge_chain(&d, &[layer("x.yaml", "z: 1\n")]);
        let h = other.history("/a/b");
        assert_eq!(h.winner, Some(0));
    }

    #[test]
    fn key_order_is_defaults_then_additions() {
        let d = defaults("b: 1\na: 2\n");
        let env = layer("env.yaml", "z: 1\na: 3\n");
        let merged = merge_chain(&d, &[env]);
        let keys: Vec<_> = merged.value.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, vec!["b", "a", "z"]);
    }

    fn subchart_setup() -> (Merged, ParsedLayer) {
        let umbrella = defaults(
            "global:\n  env: prod\n  g1: umb\nbackend-api:\n  replicaCount: 1\n  nested: {x: 1}\n",
        );
        let aws = layer("envs/aws.yaml", "global:\n  region: us-east-1\n");
        let env = layer(
            "envs/prod/console.yaml",
            "\
global:
  env: prod
backend-api:
  envFrom: null
  cronJobs: {}
  other: 7
  image:
    tag: \"4.6.12\"
  global:
    g3: 1
  nested: {x: null, w: null}
",
        );
        let options = MergeOptions {
            subcharts: vec!["backend-api".into()],
        };
        let merged = merge_chain_with(&umbrella, &[aws, env], &options);
        let backend = layer(
            "backend/values.yaml",
            "\
image:
  repository: backend
  tag: latest
envFrom:
  config: a
  db: b
cronJobs:
  pull-ce: {schedule: x}
other: {q: 1}
nested: {w: 2}
global:
  g1: sub
  g2: sub
",
        );
        (merged, backend)
    }

    #[test]
    fn subchart_nulls_survive_the_umbrella_merge() {
        let (merged, _) = subchart_setup();
        assert_eq!(merged.value["backend-api"]["envFrom"], Value::Null);
        assert_eq!(
            merged.value["backend-api"]["nested"],
            json!({"x": null, "w": null})
        );
    }

    #[test]
    fn subchart_scoping_with_globals() {
        let (merged, backend) = subchart_setup();
        let scoped = scope_subchart(&merged, "backend-api", &backend).unwrap();
        // Matches what helm 3.17.2 and 4.3.1 give the subchart for the same files.
        assert_eq!(
            scoped.value,
            json!({
                "image": {"repository": "backend", "tag": "4.6.12"},
                "cronJobs": {"pull-ce": {"schedule": "x"}},
                "other": 7,
                "nested": {"x": null},
                "global": {"g1": "umb", "g2": "sub", "g3": 1, "env": "prod", "region": "us-east-1"},
                "replicaCount": 1,
            })
        );
        let o = scoped.locate("/image/tag").unwrap();
        assert_eq!(
            (o.file.as_str(), o.line, o.pointer.as_str()),
            ("envs/prod/console.yaml", 8, "/backend-api/image/tag")
        );
        assert_eq!(
            at(&scoped, "/image/repository"),
            ("backend/values.yaml".into(), 2)
        );
        assert_eq!(
            at(&scoped, "/replicaCount"),
            ("charts/jetscale/values.yaml".into(), 5)
        );
        let o = scoped.locate("/global/region").unwrap();
        assert_eq!(
            (o.file.as_str(), o.line, o.pointer.as_str()),
            ("envs/aws.yaml", 2, "/global/region")
        );
        let o = scoped.locate("/global/g3").unwrap();
        assert_eq!(
            (o.file.as_str(), o.pointer.as_str()),
            ("envs/prod/console.yaml", "/backend-api/global/g3")
        );
        assert_eq!(
            at(&scoped, "/global/g2"),
            ("backend/values.yaml".into(), 13)
        );
        assert_eq!(
            at(&scoped, "/global/g1"),
            ("charts/jetscale/values.yaml".into(), 3)
        );

        // The no-op `cronJobs: {}` and the scalar over a map default are reported in the
        // env file.
        assert_eq!(scoped.empty_map_overrides.len(), 1);
        let empty = &scoped.empty_map_overrides[0];
        assert_eq!(empty.pointer, "/cronJobs");
        let at_ = empty.at.as_ref().unwrap();
        assert_eq!((at_.file.as_str(), at_.line), ("envs/prod/console.yaml", 5));
        assert_eq!(empty.kept.as_ref().unwrap().file, "backend/values.yaml");
        let changes: Vec<_> = scoped
            .type_changes
            .iter()
            .map(|c| (c.pointer.as_str(), c.user.as_ref().unwrap().line))
            .collect();
        assert_eq!(changes, vec![("/other", 6)]);

        let h = scoped.history("/image/tag");
        let files: Vec<_> = h.layers.iter().map(|l| l.file).collect();
        assert_eq!(
            files,
            vec![
                "backend/values.yaml",
                "charts/jetscale/values.yaml",
                "envs/aws.yaml",
                "envs/prod/console.yaml"
            ]
        );
        assert_eq!(h.winner, Some(3));
        assert_eq!(h.layers[0].value, Some(&json!("latest")));
    }

    #[test]
    fn subchart_without_a_block_gets_its_defaults_and_globals() {
        let umbrella = defaults("global: {env: prod}\n");
        let merged = merge_chain(&umbrella, &[]);
        let sub = layer("frontend/values.yaml", "replicaCount: 1\n");
        let scoped = scope_subchart(&merged, "frontend", &sub).unwrap();
        assert_eq!(
            scoped.value,
            json!({"replicaCount": 1, "global": {"env": "prod"}})
        );
        assert_eq!(
            at(&scoped, "/global/env"),
            ("charts/jetscale/values.yaml".into(), 1)
        );
    }

    #[test]
    fn subchart_block_must_be_a_map() {
        let umbrella = defaults("frontend: 5\n");
        let merged = merge_chain(&umbrella, &[]);
        let sub = layer("frontend/values.yaml", "replicaCount: 1\n");
        let err = scope_subchart(&merged, "frontend", &sub).unwrap_err();
        assert_eq!(
            (err.file.as_str(), err.line),
            ("charts/jetscale/values.yaml", 1)
        );
    }

    #[test]
    fn embedding_a_subchart_gives_helms_final_values() {
        let (mut merged, backend) = subchart_setup();
        let scoped = scope_subchart(&merged, "backend-api", &backend).unwrap();
        merged.embed_subchart("backend-api", &scoped);
        assert_eq!(merged.value["backend-api"], scoped.value);
        assert_eq!(
            at(&merged, "/backend-api/image/repository"),
            ("backend/values.yaml".into(), 2)
        );
        assert_eq!(
            at(&merged, "/backend-api/image/tag"),
            ("envs/prod/console.yaml".into(), 8)
        );
        assert_eq!(at(&merged, "/global/region"), ("envs/aws.yaml".into(), 2));
        assert_eq!(
            merged.empty_map_overrides[0].pointer,
            "/backend-api/cronJobs"
        );
        // Precedence order, lowest first: the subchart's own defaults under everything.
        let h = merged.history("/backend-api/image/tag");
        let files: Vec<_> = h.layers.iter().map(|l| l.file).collect();
        assert_eq!(
            files,
            vec![
                "backend/values.yaml",
                "charts/jetscale/values.yaml",
                "envs/aws.yaml",
                "envs/prod/console.yaml",
            ]
        );
        assert_eq!(h.layers[h.winner.unwrap()].file, "envs/prod/console.yaml");
    }

    #[test]
    fn big_maps_merge_in_linear_work_with_a_sparse_index() {
        // 50 000 keys: quadratic work here would not finish in any reasonable time.
        let n = 50_000;
        let mut big = String::from("big:\n");
        let mut over = String::from("big:\n");
        for i in 0..n {
            big.push_str(&format!("  k{i}:\n    a: {i}\n    b: [1, 2]\n"));
            if i % 2 == 0 {
                over.push_str(&format!("  k{i}:\n    a: null\n"));
            }
        }
        big.push_str("untouched:\n");
        for i in 0..n {
            big.push_str(&format!("  u{i}: {{x: {i}}}\n"));
        }
        let d = defaults(&big);
        let env = layer("env.yaml", &over);
        let merged = merge_chain(&d, &[env]);
        assert_eq!(merged.value["big"].as_object().unwrap().len(), n);
        assert_eq!(merged.value["big"]["k0"], json!({"b": [1, 2]}));
        assert_eq!(merged.value["big"]["k1"], json!({"a": 1, "b": [1, 2]}));
        // A subtree no layer touched is one index entry, not one per node.
        assert!(
            merged.provenance.len() < 3 * n,
            "{}",
            merged.provenance.len()
        );
        for i in (0..n).step_by(997) {
            let o = merged.locate(&format!("/untouched/u{i}/x")).unwrap();
            assert_eq!(o.line, 3 * n + 3 + i);
            assert!(o.exact);
        }
        assert_eq!(merged.locate("/big/k1/a").unwrap().line, 6);
    }
}
