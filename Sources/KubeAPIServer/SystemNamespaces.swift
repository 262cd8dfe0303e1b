import Foundation
import KubeAPI

/// The namespaces a cluster starts with (kube-apiserver's bootstrap controller makes them):
/// created when missing, every start, so that a new store is a usable cluster.
public enum SystemNamespaces {
    public static let names = ["default", "kube-system", "kube-public", "kube-node-lease"]

    /// Retries for a while: the store may still be electing a leader.
    public static func ensure(in store: ObjectStore) async throws {
        let namespaces = ResourceCatalog.find(group: "", plural: "namespaces")!
        let deadline = ContinuousClock.now + .seconds(30)
        for name in names {
            while true {
                do {
                    let object = try ObjectRules.prepareForCreate(["metadata": ["name": .string(name)]],
                                                                  resource: namespaces, namespace: nil)
                    _ = try await store.create(namespaces, object)
                    break
                } catch where error.reason == "AlreadyExists" {
                    break
                } catch {
                    if ContinuousClock.now > deadline { throw error }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }
}
