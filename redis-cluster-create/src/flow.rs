//! Minimum-cost flow, the exact solver behind replica placement. Giving replicas to masters is
//! a transportation problem (hosts supply replica nodes, masters demand them, every unit has a
//! cost that grows with each sibling already on that host), and successive shortest paths solve
//! such problems optimally, where redis-cli's random swaps only hope to.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A flow network with integer capacities and costs.
#[derive(Debug, Default)]
pub struct Network {
    /// Arcs in pairs: arc `2k` and its residual twin `2k + 1`.
    arcs: Vec<Arc>,
    /// Arc indices leaving each vertex.
    out: Vec<Vec<usize>>,
}

#[derive(Debug, Clone)]
struct Arc {
    to: usize,
    capacity: i64,
    cost: i64,
    flow: i64,
}

impl Network {
    pub fn new(vertices: usize) -> Self {
        Self {
            arcs: Vec::new(),
            out: vec![Vec::new(); vertices],
        }
    }

    /// Adds an arc and returns its index, to read its flow after solving.
    pub fn add_arc(&mut self, from: usize, to: usize, capacity: i64, cost: i64) -> usize {
        let index = self.arcs.len();
        self.arcs.push(Arc {
            to,
            capacity,
            cost,
            flow: 0,
        });
        self.arcs.push(Arc {
            to: from,
            capacity: 0,
            cost: -cost,
            flow: 0,
        });
        self.out[from].push(index);
        self.out[to].push(index + 1);
        index
    }

    pub fn flow(&self, arc: usize) -> i64 {
        self.arcs[arc].flow
    }

    /// Sends as much flow as possible from `source` to `sink` at the least total cost and
    /// returns the amount sent. Each augmentation follows a cheapest path in the residual
    /// network. Arcs may cost less than zero, so the first distances come from Bellman-Ford
    /// (queue-based); they become vertex potentials under which every residual arc costs zero
    /// or more, and each later path is found by Dijkstra, stopped once the sink is settled.
    /// With no negative cycle at the start none appears, which keeps the result optimal.
    pub fn min_cost_max_flow(&mut self, source: usize, sink: usize) -> i64 {
        let vertices = self.out.len();
        let mut potential = self.distances_from(source);
        let mut sent = 0;
        loop {
            let mut distance = vec![i64::MAX; vertices];
            let mut via: Vec<Option<usize>> = vec![None; vertices];
            let mut settled = vec![false; vertices];
            // Among vertices equally far, the one reached last is settled first: on the
            // planners' networks, where most paths cost the same, that runs straight down one
            // path to the sink instead of settling every host before any master. Arcs are
            // relaxed last to first, so among equal choices the earliest added wins (the
            // planners add nodes in the order given).
            let mut queue = BinaryHeap::new();
            let mut pushed = 0_usize;
            distance[source] = 0;
            queue.push(Reverse((0, Reverse(pushed), source)));
            while let Some(Reverse((d, _, from))) = queue.pop() {
                if settled[from] {
                    continue;
                }
                settled[from] = true;
                if from == sink {
                    break;
                }
                for &a in self.out[from].iter().rev() {
                    let arc = &self.arcs[a];
                    if arc.capacity - arc.flow <= 0 || settled[arc.to] {
                        continue;
                    }
                    let reduced = arc.cost + potential[from] - potential[arc.to];
                    let through = d + reduced;
                    if through < distance[arc.to] {
                        distance[arc.to] = through;
                        via[arc.to] = Some(a);
                        pushed += 1;
                        queue.push(Reverse((through, Reverse(pushed), arc.to)));
                    }
                }
            }
            if distance[sink] == i64::MAX {
                return sent;
            }
            // Vertices not settled before the sink (or not reached) are at least as far as
            // it: moving them by the sink's distance keeps every residual arc's reduced cost
            // at zero or more.
            let to_sink = distance[sink];
            for (p, d) in potential.iter_mut().zip(&distance) {
                *p += (*d).min(to_sink);
            }
            let mut bottleneck = i64::MAX;
            let mut at = sink;
            while let Some(a) = via[at] {
                bottleneck = bottleneck.min(self.arcs[a].capacity - self.arcs[a].flow);
                at = self.arcs[a ^ 1].to;
            }
            let mut at = sink;
            while let Some(a) = via[at] {
                self.arcs[a].flow += bottleneck;
                self.arcs[a ^ 1].flow -= bottleneck;
                at = self.arcs[a ^ 1].to;
            }
            sent += bottleneck;
        }
    }

    /// Cheapest distances from `source` over arcs with room left (queue-based Bellman-Ford);
    /// 0 for vertices it cannot reach, which no later path reaches either.
    fn distances_from(&self, source: usize) -> Vec<i64> {
        let vertices = self.out.len();
        let mut distance = vec![i64::MAX; vertices];
        let mut queued = vec![false; vertices];
        let mut queue = VecDeque::from([source]);
        distance[source] = 0;
        queued[source] = true;
        while let Some(from) = queue.pop_front() {
            queued[from] = false;
            for &a in &self.out[from] {
                let arc = &self.arcs[a];
                if arc.capacity - arc.flow > 0 && distance[from] + arc.cost < distance[arc.to] {
                    distance[arc.to] = distance[from] + arc.cost;
                    if !queued[arc.to] {
                        queued[arc.to] = true;
                        queue.push_back(arc.to);
                    }
                }
            }
        }
        distance
            .into_iter()
            .map(|d| if d == i64::MAX { 0 } else { d })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_cheaper_of_two_routes_then_the_dearer() {
        // source 0, sink 3, two routes: via 1 (cost 5) and via 2 (cost 1), one unit each.
        let mut net = Network::new(4);
        let a = net.add_arc(0, 1, 1, 0);
        net.add_arc(1, 3, 1, 5);
        let b = net.add_arc(0, 2, 1, 0);
        net.add_arc(2, 3, 1, 1);
        assert_eq!(net.min_cost_max_flow(0, 3), 2);
        assert_eq!((net.flow(a), net.flow(b)), (1, 1));
    }

    #[test]
    fn reroutes_earlier_flow_when_that_is_cheaper_overall() {
        // Supplier 2 can only reach demand 3. If supplier 1's unit took the cheap arc to 3
        // first, the second augmentation must push it back to 4 through the residual arc.
        // Vertices: 0 source, 1 and 2 suppliers, 3 and 4 demands, 5 sink.
        let mut net = Network::new(6);
        net.add_arc(0, 1, 1, 0);
        net.add_arc(0, 2, 1, 0);
        let one_three = net.add_arc(1, 3, 1, 1);
        let one_four = net.add_arc(1, 4, 1, 2);
        let two_three = net.add_arc(2, 3, 1, 1);
        net.add_arc(3, 5, 1, 0);
        net.add_arc(4, 5, 1, 0);
        assert_eq!(net.min_cost_max_flow(0, 5), 2);
        assert_eq!(net.flow(one_three) + net.flow(two_three), 1);
        assert_eq!(net.flow(one_four), 1);
    }
}
