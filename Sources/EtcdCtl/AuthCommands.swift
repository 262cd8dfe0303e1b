import EtcdClient
import EtcdProto
import Foundation
import SwiftProtobuf

/// `etcdctl auth enable|disable`, `user …` and `role …`, with etcdctl's arguments, messages and
/// output formats.
enum AuthCommands {
    static func enable(_ invocation: Invocation) async throws {
        guard invocation.arguments.isEmpty else {
            throw CommandError.badArguments("auth enable command does not accept any arguments")
        }
        let client = try invocation.client()
        // As etcdctl: a missing root role is made and granted to root, then enabling is tried again.
        while true {
            do {
                try await client.authEnable()
                break
            } catch let error as EtcdError where error.code == .rootRoleNotExist {
                do {
                    try await client.roleAdd("root")
                    try await client.userGrantRole("root", role: "root")
                } catch {
                    throw failure(error)
                }
            } catch {
                throw failure(error)
            }
        }
        print("Authentication Enabled")
    }

    static func disable(_ invocation: Invocation) async throws {
        guard invocation.arguments.isEmpty else {
            throw CommandError.badArguments("auth disable command does not accept any arguments")
        }
        do { try await invocation.client().authDisable() } catch { throw failure(error) }
        print("Authentication Disabled")
    }

    // MARK: Users

    static let userAddFlags: [FlagSpec] = [
        .init(name: "interactive", kind: .bool, defaultValue: "true"),
        .init(name: "new-user-password", kind: .value, defaultValue: ""),
        .init(name: "no-password", kind: .bool, defaultValue: "false"),
    ]

    static func userAdd(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("user add command requires user name as its argument")
        }
        let argument = invocation.arguments[0]
        var user = argument, password = ""
        let noPassword = invocation.flags.bool("no-password")
        if !noPassword {
            if !invocation.flags["new-user-password"].isEmpty {
                password = invocation.flags["new-user-password"]
            } else if let colon = argument.firstIndex(of: ":") {
                user = String(argument[..<colon])
                password = String(argument[argument.index(after: colon)...])
                if user.isEmpty { throw CommandError.badArguments("empty user name is not allowed") }
            } else if invocation.flags.bool("interactive") {
                password = try Password.askTwice(for: argument)
            } else {
                password = Password.scanWord()
            }
        }
        let response = try await call { try await invocation.client().userAdd(user, password: password, noPassword: noPassword) }
        try invocation.display.auth(response, simple: "User \(user) created", fields: .header(response.header))
    }

    static func userDelete(_ invocation: Invocation) async throws {
        try await named(invocation, usage: "user delete command requires user name as its argument",
                        simple: { "User \($0) deleted" }) { try await $0.userDelete($1) }
    }

    static func userGet(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("user get command requires user name as its argument")
        }
        let name = invocation.arguments[0]
        let client = try invocation.client()
        let response = try await call { try await client.userGet(name) }
        if invocation.flags.bool("detail") {
            print("User: \(name)")
            for role in response.roles {
                print("")
                try invocation.display.roleGet(role, try await call { try await client.roleGet(role) })
            }
        } else {
            try invocation.display.auth(response, simple: "User: \(name)\nRoles:" + response.roles.map { " " + $0 }.joined(),
                                        fields: .unsupported)
        }
    }

    static func userList(_ invocation: Invocation) async throws {
        guard invocation.arguments.isEmpty else { throw CommandError.badArguments("user list command requires no arguments") }
        let response = try await call { try await invocation.client().userList() }
        try invocation.display.auth(response, simple: response.users.joined(separator: "\n"), fields: .unsupported,
                                    omitsEmptySimple: response.users.isEmpty)
    }

    static func userPasswd(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("user passwd command requires user name as its argument")
        }
        let name = invocation.arguments[0]
        let password = invocation.flags.bool("interactive") ? try Password.askTwice(for: name) : Password.scanWord()
        let response = try await call { try await invocation.client().userChangePassword(name, password: password) }
        try invocation.display.auth(response, simple: "Password updated", fields: .header(response.header))
    }

    static func userGrantRole(_ invocation: Invocation) async throws {
        try await userAndRole(invocation, usage: "user grant command requires user name and role name as its argument",
                              simple: { "Role \($1) is granted to user \($0)" }) { try await $0.userGrantRole($1, role: $2) }
    }

    static func userRevokeRole(_ invocation: Invocation) async throws {
        try await userAndRole(invocation, usage: "user revoke-role requires user name and role name as its argument",
                              simple: { "Role \($1) is revoked from user \($0)" }) { try await $0.userRevokeRole($1, role: $2) }
    }

    // MARK: Roles

    static let permissionFlags: [FlagSpec] = [
        .init(name: "prefix", kind: .bool, defaultValue: "false"),
        .init(name: "from-key", kind: .bool, defaultValue: "false"),
    ]

    static func roleAdd(_ invocation: Invocation) async throws {
        try await named(invocation, usage: "role add command requires role name as its argument",
                        simple: { "Role \($0) created" }) { try await $0.roleAdd($1) }
    }

    static func roleDelete(_ invocation: Invocation) async throws {
        try await named(invocation, usage: "role delete command requires role name as its argument",
                        simple: { "Role \($0) deleted" }) { try await $0.roleDelete($1) }
    }

    static func roleGet(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else { throw CommandError.badArguments("role get command requires role name as its argument") }
        let role = invocation.arguments[0]
        try invocation.display.roleGet(role, try await call { try await invocation.client().roleGet(role) })
    }

    static func roleList(_ invocation: Invocation) async throws {
        guard invocation.arguments.isEmpty else { throw CommandError.badArguments("role list command requires no arguments") }
        let response = try await call { try await invocation.client().roleList() }
        try invocation.display.auth(response, simple: response.roles.joined(separator: "\n"),
                                    fields: .lines([#""Roles" :"# + response.roles.map { " " + goQuote($0) }.joined()], response.header),
                                    omitsEmptySimple: response.roles.isEmpty)
    }

    static func roleGrantPermission(_ invocation: Invocation) async throws {
        let arguments = invocation.arguments
        guard arguments.count >= 3 else {
            throw CommandError.badArguments("role grant command requires role name, permission type, and key [endkey] as its argument")
        }
        guard let type = Authpb_Permission.TypeEnum.allCases.first(where: { "\($0)".uppercased() == arguments[1].uppercased() }) else {
            throw CommandError.badArguments("invalid permission type: \(arguments[1])")
        }
        let (key, rangeEnd) = try permissionRange(Array(arguments[2...]), invocation.flags)
        let response = try await call {
            try await invocation.client().roleGrantPermission(arguments[0], type, key: key, rangeEnd: rangeEnd)
        }
        try invocation.display.auth(response, simple: "Role \(arguments[0]) updated", fields: .header(response.header))
    }

    static func roleRevokePermission(_ invocation: Invocation) async throws {
        let arguments = invocation.arguments
        guard arguments.count >= 2 else {
            throw CommandError.badArguments("role revoke-permission command requires role name and key [endkey] as its argument")
        }
        let (key, rangeEnd) = try permissionRange(Array(arguments[1...]), invocation.flags)
        let response = try await call { try await invocation.client().roleRevokePermission(arguments[0], key: key, rangeEnd: rangeEnd) }
        let simple: String
        if rangeEnd.isEmpty {
            simple = "Permission of key \(arguments[1]) is revoked from role \(arguments[0])"
        } else if rangeEnd != "\0" {
            simple = "Permission of range [\(arguments[1]), \(rangeEnd)) is revoked from role \(arguments[0])"
        } else {
            simple = "Permission of range [\(arguments[1]), <open ended> is revoked from role \(arguments[0])"
        }
        try invocation.display.auth(response, simple: simple, fields: .header(response.header))
    }

    /// etcdctl's `permRange`: the key and range end of a permission from `key [endkey]`,
    /// `--prefix` and `--from-key` (an empty key stands for every key).
    static func permissionRange(_ arguments: [String], _ flags: ParsedFlags) throws(CommandError) -> (key: String, rangeEnd: String) {
        let prefix = flags.bool("prefix"), fromKey = flags.bool("from-key")
        let key = arguments[0]
        if key.isEmpty {
            if prefix && fromKey { throw .badArguments("--from-key and --prefix flags are mutually exclusive") }
            return ("\0", prefix || fromKey ? "\0" : "")
        }
        if arguments.count == 1 {
            if prefix {
                if fromKey { throw .badArguments("--from-key and --prefix flags are mutually exclusive") }
                return (key, String(decoding: prefixRangeEnd(Data(key.utf8)), as: UTF8.self))
            }
            return (key, fromKey ? "\0" : "")
        }
        if prefix { throw .badArguments("unexpected endkey argument with --prefix flag") }
        if fromKey { throw .badArguments("unexpected endkey argument with --from-key flag") }
        return (key, arguments[1])
    }

    /// A command on one user or role whose answer is only a header.
    private static func named<Response: HeaderOnlyAuthResponse & SwiftProtobuf.Message>(
        _ invocation: Invocation, usage: String, simple: (String) -> String,
        _ body: (EtcdClient, String) async throws -> Response
    ) async throws {
        guard invocation.arguments.count == 1 else { throw CommandError.badArguments(usage) }
        let name = invocation.arguments[0]
        let response = try await call { try await body(invocation.client(), name) }
        try invocation.display.auth(response, simple: simple(name), fields: .header(response.header))
    }

    /// A command on a user and a role whose answer is only a header.
    private static func userAndRole<Response: HeaderOnlyAuthResponse & SwiftProtobuf.Message>(
        _ invocation: Invocation, usage: String, simple: (String, String) -> String,
        _ body: (EtcdClient, String, String) async throws -> Response
    ) async throws {
        guard invocation.arguments.count == 2 else { throw CommandError.badArguments(usage) }
        let (user, role) = (invocation.arguments[0], invocation.arguments[1])
        let response = try await call { try await body(invocation.client(), user, role) }
        try invocation.display.auth(response, simple: simple(user, role), fields: .header(response.header))
    }

    /// Runs one call with etcdctl's error for its failure.
    private static func call<Response>(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch { throw failure(error) }
    }
}

/// Passwords as etcdctl reads them: from the terminal without echo, or a word from stdin.
enum Password {
    /// etcdctl's `speakeasy.Ask`, step for step: the prompt on stdout, `stty -echo` run on our
    /// stdin, a line read from stdin a byte at a time (trimmed), `stty echo`, a newline. Without a
    /// terminal stty complains on stderr and the line is read all the same, so a password can be
    /// piped in, as with etcdctl.
    static func ask(_ prompt: String) -> String {
        print(prompt, terminator: "")
        flushStandardOutput()
        stty("-echo")
        defer {
            stty("echo")
            print("")
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(STDIN_FILENO, &byte, 1) == 1 && byte != UInt8(ascii: "\n") { line.append(byte) }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `/bin/stty` with argv[0] "stty", as speakeasy runs it (so its complaints read the same).
    private static func stty(_ argument: String) {
        var pid = pid_t()
        let arguments = ["stty", argument].map { text in text.withCString { strdup($0) } } + [nil]
        defer { arguments.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/stty", nil, nil, arguments, environ) == 0 else { return }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// etcdctl's `readPasswordInteractive`: asked twice, refused when empty or different.
    static func askTwice(for name: String) throws(CommandError) -> String {
        let first = ask("Password of \(name): ")
        if first.isEmpty { throw .badArguments("empty password") }
        let second = ask("Type password of \(name) again for confirmation: ")
        if first != second { throw .badArguments("given passwords are different") }
        return first
    }

    /// Go's `fmt.Scanf("%s")`: the first word of stdin (empty at end of input).
    static func scanWord() -> String {
        let line = readLine() ?? ""
        return String(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    }
}

extension Display {
    /// What an auth response prints as `fields`: the header, lines after it, or nothing (etcdctl
    /// has no fields printer for user get and user list).
    enum AuthFields {
        case header(Etcdserverpb_ResponseHeader)
        case lines([String], Etcdserverpb_ResponseHeader)
        case unsupported
    }

    /// An auth response: `simple` as given, JSON as Go encodes the response, protobuf bytes.
    func auth(_ response: some SwiftProtobuf.Message & AuthResponseJSON, simple: String, fields: AuthFields,
              omitsEmptySimple: Bool = false) throws(CommandError) {
        switch format {
        case .simple: if !omitsEmptySimple { out(simple) }
        case .json: out(response.goJSON.text)
        case .fields:
            switch fields {
            case .header(let header): fieldsHeader(header)
            case .lines(let lines, let header):
                fieldsHeader(header)
                lines.forEach(out)
            case .unsupported: throw unsupported()
            }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    /// `role get`: the role's read and write permissions, as etcdctl lists them.
    func roleGet(_ role: String, _ response: Etcdserverpb_AuthRoleGetResponse) throws(CommandError) {
        switch format {
        case .simple:
            out("Role \(role)")
            for (title, types) in [("KV Read:", [Authpb_Permission.TypeEnum.read, .readwrite]),
                                   ("KV Write:", [.write, .readwrite])] {
                out(title)
                for permission in response.perm where types.contains(permission.permType) {
                    out(Self.permissionLine(permission))
                }
            }
        case .json: out(response.goJSON.text)
        case .fields:
            fieldsHeader(response.header)
            for permission in response.perm {
                out(#""PermType" :  \#("\(permission.permType)".uppercased())"#)
                out(#""Key" : \#(goQuote(permission.key))"#)
                out(#""RangeEnd" : \#(goQuote(permission.rangeEnd))"#)
            }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    private static func permissionLine(_ permission: Authpb_Permission) -> String {
        let key = String(decoding: permission.key, as: UTF8.self)
        if permission.rangeEnd.isEmpty { return "\t\(key)" }
        let rangeEnd = String(decoding: permission.rangeEnd, as: UTF8.self)
        var line = rangeEnd != "\0" ? "\t[\(key), \(rangeEnd))" : "\t[\(key), <open ended>"
        if String(decoding: prefixRangeEnd(permission.key), as: UTF8.self) == rangeEnd { line += " (prefix \(key))" }
        return line
    }
}

/// The JSON etcdctl prints for an auth response (Go's encoding of the generated struct).
protocol AuthResponseJSON {
    var goJSON: GoJSONObject { get }
}

extension AuthResponseJSON {
    static func headerJSON(_ header: Etcdserverpb_ResponseHeader, present: Bool) -> GoJSONObject {
        var object = GoJSONObject()
        if present { object.object("header", EtcdJSON.header(header)) }
        return object
    }
}

/// The auth responses that carry nothing but their header.
protocol HeaderOnlyAuthResponse: AuthResponseJSON {
    var header: Etcdserverpb_ResponseHeader { get }
    var hasHeader: Bool { get }
}

extension HeaderOnlyAuthResponse {
    var goJSON: GoJSONObject { Self.headerJSON(header, present: hasHeader) }
}

extension Etcdserverpb_AuthUserAddResponse: HeaderOnlyAuthResponse {}
extension Etcdserverpb_AuthUserDeleteResponse: HeaderOnlyAuthResponse {}
extension Etcdserverpb_AuthUserChangePasswordResponse: HeaderOnlyAuthResponse {}
extension Etcdserverpb_AuthUserGrantRoleResponse: HeaderOnlyAuthResponse {}
extension Etcdserverpb_AuthUserRevokeRoleResponse: HeaderOnlyAuthResponse {}
extension Etcdserverpb_AuthRoleAddResponse: HeaderOnlyAuthResponse {}
extension Etcdserverpb_AuthRoleDeleteResponse: HeaderOnlyAuthResponse {}
extension Etcdserverpb_AuthRoleGrantPermissionResponse: HeaderOnlyAuthResponse {}
extension Etcdserverpb_AuthRoleRevokePermissionResponse: HeaderOnlyAuthResponse {}

extension Etcdserverpb_AuthUserGetResponse: AuthResponseJSON {
    var goJSON: GoJSONObject {
        var object = Self.headerJSON(header, present: hasHeader)
        object.array("roles", roles.map(GoJSONObject.quote))
        return object
    }
}
extension Etcdserverpb_AuthUserListResponse: AuthResponseJSON {
    var goJSON: GoJSONObject {
        var object = Self.headerJSON(header, present: hasHeader)
        object.array("users", users.map(GoJSONObject.quote))
        return object
    }
}
extension Etcdserverpb_AuthRoleListResponse: AuthResponseJSON {
    var goJSON: GoJSONObject {
        var object = Self.headerJSON(header, present: hasHeader)
        object.array("roles", roles.map(GoJSONObject.quote))
        return object
    }
}
extension Etcdserverpb_AuthRoleGetResponse: AuthResponseJSON {
    var goJSON: GoJSONObject {
        var object = Self.headerJSON(header, present: hasHeader)
        object.array("perm", perm.map { permission in
            var json = GoJSONObject()
            json.int("permType", permission.permType.rawValue)
            json.bytes("key", permission.key)
            json.bytes("range_end", permission.rangeEnd)
            return json.text
        })
        return object
    }
}
