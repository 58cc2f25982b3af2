//! Times the planners at scale: a create plan of 1,000 nodes on 250 hosts, and a converge plan
//! that adds a 250th host of 4 nodes to a live cluster of 996 nodes on 249 hosts (the layout
//! of a cluster as create would have made it). Prints one JSON line; `scripts/bench/planner`
//! runs it in release mode and holds the figures against the goal.
//!
//! Usage: cargo run --release -p redis-cluster-create --example plan_scale [HOSTS [PER_HOST]]

use std::time::Instant;

use redis_cluster_create::converge::{self, Layout, LayoutNode};
use redis_cluster_create::planner::{self, Candidate};

fn candidates(hosts: usize, per_host: usize) -> Vec<Candidate> {
    (0..hosts)
        .flat_map(|h| {
            (0..per_host).map(move |i| Candidate {
                addr: format!("10.{}.{}.{}:{}", h / 250, h % 250, 1, 7000 + i)
                    .parse()
                    .unwrap(),
                host: format!("h{h}"),
            })
        })
        .collect()
}

/// The layout of the cluster `plan` describes, every node alive and joined; ids are the
/// addresses' text, zero-padded to 40 characters.
fn layout_of(plan: &redis_cluster::Plan) -> Layout {
    let id = |addr: &redis_cluster::NodeAddr| {
        format!("{:0>40}", addr.to_string().replace([':', '.'], ""))
    };
    let mut nodes = Vec::new();
    for master in &plan.masters {
        nodes.push(LayoutNode {
            id: id(&master.addr),
            addr: Some(master.addr),
            alive: true,
            joined: true,
            master: None,
            slots: master.slots.clone(),
            migrating: Vec::new(),
            importing: Vec::new(),
            stray: Vec::new(),
        });
        for replica in &master.replicas {
            nodes.push(LayoutNode {
                id: id(&replica.addr),
                addr: Some(replica.addr),
                alive: true,
                joined: true,
                master: Some(id(&master.addr)),
                slots: Vec::new(),
                migrating: Vec::new(),
                importing: Vec::new(),
                stray: Vec::new(),
            });
        }
    }
    Layout { nodes }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let hosts = args.first().copied().unwrap_or(250);
    let per_host = args.get(1).copied().unwrap_or(4);
    let all = candidates(hosts, per_host);

    let began = Instant::now();
    let created = planner::plan(&all, 1).expect("a create plan");
    let create_seconds = began.elapsed().as_secs_f64();

    let old = &all[..all.len() - per_host];
    let existing = layout_of(&planner::plan(old, 1).expect("the existing cluster's plan"));
    let mut layout = existing;
    for c in &all[all.len() - per_host..] {
        layout.nodes.push(LayoutNode {
            id: format!("{:0>40}", c.addr.to_string().replace([':', '.'], "")),
            addr: Some(c.addr),
            alive: true,
            joined: false,
            master: None,
            slots: Vec::new(),
            migrating: Vec::new(),
            importing: Vec::new(),
            stray: Vec::new(),
        });
    }
    let began = Instant::now();
    let converged = converge::plan(&layout, &all, 1, false).expect("a converge plan");
    let converge_seconds = began.elapsed().as_secs_f64();
    println!(
        "{{\"nodes\":{},\"hosts\":{hosts},\"create_seconds\":{create_seconds:.3},\"create_masters\":{},\"converge_seconds\":{converge_seconds:.3},\"converge_steps\":{}}}",
        all.len(),
        created.masters.len(),
        converged.steps.len()
    );
}
