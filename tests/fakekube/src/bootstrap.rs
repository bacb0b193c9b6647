//! What an empty, healthy kind cluster contains before anyone deploys: the four system
//! namespaces, one Ready node, the `kubernetes` Service with its Endpoints, and CoreDNS (the
//! `kube-dns` Service and the `coredns` Deployment, which the controllers then roll out).

use serde_json::{Value, json};

use crate::controllers::{NODE_IP, NODE_NAME};
use crate::crud;
use crate::store::{ObjectKey, Store};

pub fn seed(store: &Store) {
    store.write(|txn| {
        let ns = txn.table.builtin("", "namespaces");
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            crud::create(txn, &ns, "", obj, false).expect("seeding a namespace");
        }

        let node_rt = txn.table.builtin("", "nodes");
        let node = crud::create(txn, &node_rt, "", node(), false).expect("seeding the node");
        let mut ready = node.clone();
        ready["status"] = node_status();
        txn.put(ObjectKey::new(&node_rt, "", crate::meta::name(&node)), ready);

        let svc = txn.table.builtin("", "services");
        let kubernetes = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        });
        crud::create(txn, &svc, "default", kubernetes, false).expect("seeding the kubernetes service");
        let ep = txn.table.builtin("", "endpoints");
        let endpoints = json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": NODE_IP}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}],
        });
        crud::create(txn, &ep, "default", endpoints, false).expect("seeding the kubernetes endpoints");

        let dns_labels = json!({"k8s-app": "kube-dns"});
        let kube_dns = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {
                "clusterIP": "10.96.0.10",
                "selector": dns_labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                    {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                ],
            },
        });
        crud::create(txn, &svc, "kube-system", kube_dns, false).expect("seeding kube-dns");
        let deploy = txn.table.builtin("apps", "deployments");
        crud::create(txn, &deploy, "kube-system", coredns(&dns_labels), false).expect("seeding coredns");
    });
}

fn node() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
                "ingress-ready": "true",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "providerID": format!("kind://docker/kind/{}", NODE_NAME)},
    })
}

fn node_status() -> Value {
    let now = crate::meta::now();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| json!({"type": kind, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now});
    let capacity = json!({"cpu": "2", "ephemeral-storage": "61202244Ki", "hugepages-2Mi": "0", "memory": "24610596Ki", "pods": "110"});
    json!({
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": NODE_IP},
            {"type": "Hostname", "address": NODE_NAME},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": "00000000-0000-4000-8000-000000000000",
            "containerRuntimeVersion": "containerd://2.1.1",
            "kernelVersion": "6.1.0",
            "kubeProxyVersion": "",
            "kubeletVersion": "v1.33.0",
            "machineID": "fakekube",
            "operatingSystem": "linux",
            "osImage": "fakekube stand-in (not a Kubernetes node)",
            "systemUUID": "00000000-0000-4000-8000-000000000000",
        },
    })
}

fn coredns(labels: &Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    "containers": [{
                        "name": "coredns",
                        "image": "registry.k8s.io/coredns/coredns:v1.12.0",
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "ports": [
                            {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                            {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                            {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                        ],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181, "scheme": "HTTP"}},
                    }],
                },
            },
        },
    })
}
