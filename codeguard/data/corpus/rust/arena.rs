//! A typed arena holding a directed graph, with traversal helpers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::{Index, IndexMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

#[derive(Debug, Default)]
pub struct Graph<T> {
    nodes: Vec<T>,
    edges: HashMap<NodeId, Vec<NodeId>>,
}

pub trait Visitor<T> {
    fn visit(&mut self, id: NodeId, value: &T) -> bool;
}

impl<T, F> Visitor<T> for F
where
    F: FnMut(NodeId, &T) -> bool,
{
    fn visit(&mut self, id: NodeId, value: &T) -> bool {
        self(id, value)
    }
}

impl<T> Graph<T> {
    pub fn new() -> Self {
        Self { nodes: Vec::new(), edges: HashMap::new() }
    }

    pub fn add_node(&mut self, value: T) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).expect("too many nodes"));
        self.nodes.push(value);
        id
    }

    pub fn add_edge(&mut self, from: NodeId, to: NodeId) {
        self.edges.entry(from).or_default().push(to);
    }

    pub fn neighbours(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.edges.get(&id).into_iter().flatten().copied()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Breadth-first search; the visitor returns `false` to stop early.
    pub fn bfs<V: Visitor<T>>(&self, start: NodeId, mut visitor: V) {
        let mut seen = HashSet::from([start]);
        let mut queue = VecDeque::from([start]);
        while let Some(id) = queue.pop_front() {
            if !visitor.visit(id, &self[id]) {
                return;
            }
            for next in self.neighbours(id) {
                if seen.insert(next) {
                    queue.push_back(next);
                }
            }
        }
    }

    /// Kahn's algorithm. Returns `None` if the graph has a cycle.
    pub fn topological_order(&self) -> Option<Vec<NodeId>> {
        let mut indegree = vec![0usize; self.nodes.len()];
        for targets in self.edges.values() {
            for t in targets {
                indegree[t.0 as usize] += 1;
            }
        }
        let mut ready: VecDeque<NodeId> = (0..self.nodes.len() as u32)
            .map(NodeId)
            .filter(|id| indegree[id.0 as usize] == 0)
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(id) = ready.pop_front() {
            order.push(id);
            for next in self.neighbours(id) {
                let d = &mut indegree[next.0 as usize];
                *d -= 1;
                if *d == 0 {
                    ready.push_back(next);
                }
            }
        }
        (order.len() == self.nodes.len()).then_some(order)
    }
}

impl<T> Index<NodeId> for Graph<T> {
    type Output = T;

    fn index(&self, id: NodeId) -> &T {
        &self.nodes[id.0 as usize]
    }
}

impl<T> IndexMut<NodeId> for Graph<T> {
    fn index_mut(&mut self, id: NodeId) -> &mut T {
        &mut self.nodes[id.0 as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topo_sort_and_cycle_detection() {
        let mut g = Graph::new();
        let [a, b, c] = ["a", "b", "c"].map(|name| g.add_node(name));
        g.add_edge(a, b);
        g.add_edge(b, c);
        assert_eq!(g.topological_order(), Some(vec![a, b, c]));
        g.add_edge(c, a);
        assert_eq!(g.topological_order(), None);
    }

    #[test]
    fn bfs_stops_when_asked() {
        let mut g = Graph::new();
        let ids: Vec<_> = (0..5).map(|i| g.add_node(i * 10)).collect();
        for w in ids.windows(2) {
            g.add_edge(w[0], w[1]);
        }
        let mut visited = Vec::new();
        g.bfs(ids[0], |_, v: &i32| {
            visited.push(*v);
            *v < 20
        });
        assert_eq!(visited, [0, 10, 20]);
    }
}
