/// A selector that could not be parsed or is not allowed, worded as kube-apiserver 1.20 words it
/// (kubectl shows the message after "Error from server (BadRequest): ").
public struct SelectorError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

// MARK: - Labels

/// A label selector with the semantics of k8s.io/apimachinery/pkg/labels: requirements ANDed,
/// `!=` and `notin` satisfied by objects that lack the label, an empty selector matching
/// everything.
public struct LabelSelector: Sendable, Equatable, CustomStringConvertible {
    enum Operator: Sendable, Equatable {
        case equals, doubleEquals, notEquals, `in`, notIn, exists, doesNotExist, greaterThan, lessThan
    }

    struct Requirement: Sendable, Equatable {
        var key: String
        var op: Operator
        var values: [String]
    }

    /// Sorted by key, as Kubernetes keeps them, so that `description` is canonical.
    private(set) var requirements: [Requirement] = []
    /// A JSON `null` selector selects nothing (metav1.LabelSelectorAsSelector returns
    /// labels.Nothing for nil), unlike `{}`, which selects everything.
    private var selectsNothing = false

    /// The selector that matches everything.
    public init() {}

    /// Parses the `labelSelector=` query form, as labels.Parse does.
    public init(parsing text: String) throws(SelectorError) {
        var parser = LabelParser(text)
        requirements = Self.sortedByKey(try parser.parse())
    }

    /// Converts a metav1.LabelSelector (`matchLabels`, `matchExpressions`), as
    /// metav1.LabelSelectorAsSelector does.
    public init(json: JSONValue) throws(SelectorError) {
        if json == .null {
            selectsNothing = true
            return
        }
        guard case .object(let fields) = json else {
            throw SelectorError("a label selector must be an object, not \(json.text)")
        }
        var found: [Requirement] = []
        if let matchLabels = fields["matchLabels"], matchLabels != .null {
            guard case .object(let pairs) = matchLabels else {
                throw SelectorError("matchLabels must be an object of strings, not \(matchLabels.text)")
            }
            for key in pairs.keys.sorted() {
                guard let value = pairs[key]?.stringValue else {
                    throw SelectorError("matchLabels[\(key)] must be a string, not \(pairs[key]!.text)")
                }
                found.append(try Self.requirement(key, .equals, [value]))
            }
        }
        if let expressions = fields["matchExpressions"], expressions != .null {
            guard case .array(let items) = expressions else {
                throw SelectorError("matchExpressions must be an array, not \(expressions.text)")
            }
            for item in items {
                let key = item["key"]?.stringValue ?? ""
                let name = item["operator"]?.stringValue ?? ""
                let op: Operator
                switch name {
                case "In": op = .in
                case "NotIn": op = .notIn
                case "Exists": op = .exists
                case "DoesNotExist": op = .doesNotExist
                default: throw SelectorError("\"\(name)\" is not a valid pod selector operator")
                }
                let values = (item["values"]?.arrayValue ?? []).map { $0.stringValue ?? $0.text }
                found.append(try Self.requirement(key, op, values))
            }
        }
        requirements = Self.sortedByKey(found)
    }

    /// Whether the selector places no constraint (it matches every object).
    public var isEmpty: Bool { requirements.isEmpty && !selectsNothing }

    public func matches(_ labels: [String: String]) -> Bool {
        if selectsNothing { return false }
        return requirements.allSatisfy { $0.matches(labels) }
    }

    /// Kubernetes' canonical string (labels.Selector.String()): requirements sorted by key, set
    /// values sorted, "" for a selector without requirements. This is what Scale's
    /// `status.selector` and the wide Selector columns show.
    public var description: String {
        requirements.map(\.description).joined(separator: ",")
    }

    private static func sortedByKey(_ requirements: [Requirement]) -> [Requirement] {
        // Stable, so that two requirements on one key keep the order they were written in.
        requirements.enumerated().sorted { ($0.element.key, $0.offset) < ($1.element.key, $1.offset) }.map(\.element)
    }

    /// labels.NewRequirement: the checks shared by both forms of selector.
    fileprivate static func requirement(_ key: String, _ op: Operator, _ values: [String]) throws(SelectorError) -> Requirement {
        try LabelSyntax.validateKey(key)
        switch op {
        case .in, .notIn:
            if values.isEmpty { throw SelectorError("for 'in', 'notin' operators, values set can't be empty") }
        case .equals, .doubleEquals, .notEquals:
            if values.count != 1 { throw SelectorError("exact-match compatibility requires one single value") }
        case .exists, .doesNotExist:
            if !values.isEmpty { throw SelectorError("values set must be empty for exists and does not exist") }
        case .greaterThan, .lessThan:
            if values.count != 1 { throw SelectorError("for 'Gt', 'Lt' operators, exactly one value is required") }
            if Int64(values[0]) == nil { throw SelectorError("for 'Gt', 'Lt' operators, the value must be an integer") }
        }
        for value in values { try LabelSyntax.validateValue(value, key: key) }
        return Requirement(key: key, op: op, values: values)
    }
}

extension LabelSelector.Requirement: CustomStringConvertible {
    func matches(_ labels: [String: String]) -> Bool {
        let value = labels[key]
        switch op {
        case .equals, .doubleEquals, .in:
            guard let value else { return false }
            return values.contains(value)
        case .notEquals, .notIn:
            guard let value else { return true }
            return !values.contains(value)
        case .exists:
            return value != nil
        case .doesNotExist:
            return value == nil
        case .greaterThan, .lessThan:
            // A label that is not an integer satisfies neither, as in Kubernetes.
            guard let value, let actual = Int64(value), values.count == 1, let bound = Int64(values[0]) else { return false }
            return op == .greaterThan ? actual > bound : actual < bound
        }
    }

    var description: String {
        let sortedValues = values.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.joined(separator: ",")
        switch op {
        case .equals: return "\(key)=\(sortedValues)"
        case .doubleEquals: return "\(key)==\(sortedValues)"
        case .notEquals: return "\(key)!=\(sortedValues)"
        case .in: return "\(key) in (\(sortedValues))"
        case .notIn: return "\(key) notin (\(sortedValues))"
        case .greaterThan: return "\(key)>\(sortedValues)"
        case .lessThan: return "\(key)<\(sortedValues)"
        case .exists: return key
        case .doesNotExist: return "!\(key)"
        }
    }
}

/// The lexer and recursive-descent parser of labels.Parse, kept token for token so that the
/// same inputs are accepted, and the same errors reported, as by kube-apiserver 1.20.
private struct LabelParser {
    enum Token: Equatable {
        case error, endOfString, closedPar, comma, doesNotExist, doubleEquals, equals, greaterThan
        case identifier, `in`, lessThan, notEquals, notIn, openPar
    }

    /// Where a literal stands decides whether `in` and `notin` are operators or plain values
    /// (`x in (in)` is valid).
    enum Context { case keyAndOperator, values }

    private static let literals: [String: Token] = [
        ")": .closedPar, ",": .comma, "!": .doesNotExist, "==": .doubleEquals, "=": .equals, ">": .greaterThan,
        "in": .in, "<": .lessThan, "!=": .notEquals, "notin": .notIn, "(": .openPar,
    ]

    private var items: [(token: Token, literal: String)] = []
    private var position = 0

    init(_ text: String) {
        var lexer = Lexer(bytes: Array(text.utf8))
        while true {
            let item = lexer.next()
            items.append(item)
            if item.token == .endOfString { break }
        }
    }

    mutating func parse() throws(SelectorError) -> [LabelSelector.Requirement] {
        var requirements: [LabelSelector.Requirement] = []
        while true {
            let (token, literal) = lookahead(.values)
            switch token {
            case .identifier, .doesNotExist:
                do {
                    requirements.append(try parseRequirement())
                } catch {
                    throw SelectorError("unable to parse requirement: \(error.message)")
                }
                let (next, nextLiteral) = consume(.values)
                switch next {
                case .endOfString:
                    return requirements
                case .comma:
                    let (after, afterLiteral) = lookahead(.values)
                    if after != .identifier && after != .doesNotExist {
                        throw SelectorError("found '\(afterLiteral)', expected: identifier after ','")
                    }
                default:
                    throw SelectorError("found '\(nextLiteral)', expected: ',' or 'end of string'")
                }
            case .endOfString:
                return requirements
            default:
                throw SelectorError("found '\(literal)', expected: !, identifier, or 'end of string'")
            }
        }
    }

    private mutating func parseRequirement() throws(SelectorError) -> LabelSelector.Requirement {
        var negated = false
        var (token, literal) = consume(.values)
        if token == .doesNotExist {
            negated = true
            (token, literal) = consume(.values)
        }
        guard token == .identifier else { throw SelectorError("found '\(literal)', expected: identifier") }
        try LabelSyntax.validateKey(literal)
        let key = literal
        if negated { return try LabelSelector.requirement(key, .doesNotExist, []) }
        let next = lookahead(.values).token
        if next == .endOfString || next == .comma { return try LabelSelector.requirement(key, .exists, []) }

        let op = try parseOperator()
        let values: Set<String>
        switch op {
        case .in, .notIn: values = try parseValues()
        default: values = try parseExactValue()
        }
        return try LabelSelector.requirement(key, op, values.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    }

    private mutating func parseOperator() throws(SelectorError) -> LabelSelector.Operator {
        let (token, literal) = consume(.keyAndOperator)
        switch token {
        case .in: return .in
        case .equals: return .equals
        case .doubleEquals: return .doubleEquals
        case .greaterThan: return .greaterThan
        case .lessThan: return .lessThan
        case .notIn: return .notIn
        case .notEquals: return .notEquals
        // The missing quote before notin is Kubernetes' own.
        default: throw SelectorError("found '\(literal)', expected: '=', '!=', '==', 'in', notin'")
        }
    }

    private mutating func parseValues() throws(SelectorError) -> Set<String> {
        let (open, openLiteral) = consume(.values)
        guard open == .openPar else { throw SelectorError("found '\(openLiteral)' expected: '('") }
        let (token, literal) = lookahead(.values)
        switch token {
        case .identifier, .comma:
            let values = try parseIdentifierList()
            if consume(.values).token != .closedPar {
                throw SelectorError("found '\(literal)', expected: ')'")
            }
            return values
        case .closedPar:
            // "()" is one empty value, not none.
            _ = consume(.values)
            return [""]
        default:
            throw SelectorError("found '\(literal)', expected: ',', ')' or identifier")
        }
    }

    /// A comma-separated list in which empty members are empty strings: "(,a)" is {"", "a"}.
    private mutating func parseIdentifierList() throws(SelectorError) -> Set<String> {
        var values: Set<String> = []
        while true {
            let (token, literal) = consume(.values)
            switch token {
            case .identifier:
                values.insert(literal)
                let (next, nextLiteral) = lookahead(.values)
                switch next {
                case .comma: continue
                case .closedPar: return values
                default: throw SelectorError("found '\(nextLiteral)', expected: ',' or ')'")
                }
            case .comma:
                if values.isEmpty { values.insert("") }
                let next = lookahead(.values).token
                if next == .closedPar {
                    values.insert("")
                    return values
                }
                if next == .comma { values.insert("") }
            default:
                throw SelectorError("found '\(literal)', expected: ',', or identifier")
            }
        }
    }

    private mutating func parseExactValue() throws(SelectorError) -> Set<String> {
        let next = lookahead(.values).token
        if next == .endOfString || next == .comma { return [""] }
        let (token, literal) = consume(.values)
        guard token == .identifier else { throw SelectorError("found '\(literal)', expected: identifier") }
        return [literal]
    }

    private func lookahead(_ context: Context) -> (token: Token, literal: String) {
        Self.inContext(items[position], context)
    }

    private mutating func consume(_ context: Context) -> (token: Token, literal: String) {
        let item = items[position]
        // The end-of-string token stays put: the grammar may look at it more than once.
        if position < items.count - 1 { position += 1 }
        return Self.inContext(item, context)
    }

    private static func inContext(_ item: (token: Token, literal: String), _ context: Context) -> (token: Token, literal: String) {
        if context == .values, item.token == .in || item.token == .notIn { return (.identifier, item.literal) }
        return item
    }

    /// Bytes, not characters, as in Go: anything that is not whitespace or an operator
    /// character belongs to an identifier, and validation rejects what is not allowed.
    struct Lexer {
        let bytes: [UInt8]
        var index = 0

        static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }

        static func isSpecial(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "="), UInt8(ascii: "!"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ","),
                 UInt8(ascii: ">"), UInt8(ascii: "<"): return true
            default: return false
            }
        }

        mutating func next() -> (token: Token, literal: String) {
            while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
            guard index < bytes.count else { return (.endOfString, "") }
            return Self.isSpecial(bytes[index]) ? specialSymbol() : identifierOrKeyword()
        }

        private mutating func identifierOrKeyword() -> (token: Token, literal: String) {
            let start = index
            while index < bytes.count, !Self.isSpecial(bytes[index]), !Self.isWhitespace(bytes[index]) { index += 1 }
            let literal = String(decoding: bytes[start..<index], as: UTF8.self)
            if let token = LabelParser.literals[literal] { return (token, literal) }
            return (.identifier, literal)
        }

        /// The longest run of operator characters that is still an operator: "!=" is one
        /// token, "=!" is "=" followed by "!".
        private mutating func specialSymbol() -> (token: Token, literal: String) {
            var buffer: [UInt8] = []
            var last: (token: Token, literal: String)?
            while index < bytes.count, Self.isSpecial(bytes[index]) {
                buffer.append(bytes[index])
                let text = String(decoding: buffer, as: UTF8.self)
                if let token = LabelParser.literals[text] {
                    last = (token, text)
                    index += 1
                } else if last != nil {
                    break
                } else {
                    index += 1
                }
            }
            return last ?? (.error, "error expected: keyword found '\(String(decoding: buffer, as: UTF8.self))'")
        }
    }
}

/// k8s.io/apimachinery/pkg/util/validation's checks on label keys and values, with its messages.
enum LabelSyntax {
    private static let qualifiedNameMessage = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    private static let qualifiedNameFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
    private static let labelValueMessage = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    private static let subdomainMessage = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    private static let subdomainFormat = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"

    static func validateKey(_ key: String) throws(SelectorError) {
        let problems = qualifiedNameProblems(key)
        if !problems.isEmpty {
            throw SelectorError("invalid label key \(goQuoted(key)): \(problems.joined(separator: "; "))")
        }
    }

    static func validateValue(_ value: String, key: String) throws(SelectorError) {
        var problems: [String] = []
        if value.utf8.count > 63 { problems.append("must be no more than 63 characters") }
        if !value.isEmpty && !isQualifiedNamePart(value) {
            problems.append(regexError(labelValueMessage, "(" + qualifiedNameFormat + ")?", ["MyValue", "my_value", "12345"]))
        }
        if !problems.isEmpty {
            throw SelectorError("invalid label value: \(goQuoted(value)): at key: \(goQuoted(key)): \(problems.joined(separator: "; "))")
        }
    }

    static func qualifiedNameProblems(_ value: String) -> [String] {
        var problems: [String] = []
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let name: String
        switch parts.count {
        case 1:
            name = parts[0]
        case 2:
            name = parts[1]
            if parts[0].isEmpty {
                problems.append("prefix part must be non-empty")
            } else {
                problems += subdomainProblems(parts[0]).map { "prefix part " + $0 }
            }
        default:
            return [
                "a qualified name " + regexError(qualifiedNameMessage, qualifiedNameFormat, ["MyName", "my.name", "123-abc"])
                    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
            ]
        }
        if name.isEmpty {
            problems.append("name part must be non-empty")
        } else if name.utf8.count > 63 {
            problems.append("name part must be no more than 63 characters")
        }
        if !isQualifiedNamePart(name) {
            problems.append("name part " + regexError(qualifiedNameMessage, qualifiedNameFormat, ["MyName", "my.name", "123-abc"]))
        }
        return problems
    }

    private static func subdomainProblems(_ value: String) -> [String] {
        var problems: [String] = []
        if value.utf8.count > 253 { problems.append("must be no more than 253 characters") }
        let labels = value.split(separator: ".", omittingEmptySubsequences: false)
        let valid = labels.allSatisfy { label in
            let bytes = Array(label.utf8)
            let lowerAlphanumeric = { (byte: UInt8) in (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) }
            return !bytes.isEmpty && lowerAlphanumeric(bytes.first!) && lowerAlphanumeric(bytes.last!)
                && bytes.allSatisfy { lowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
        if !valid { problems.append(regexError(subdomainMessage, subdomainFormat, ["example.com"])) }
        return problems
    }

    /// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, matched whole.
    private static func isQualifiedNamePart(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        let alphanumeric = { (byte: UInt8) in
            (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
        }
        guard let first = bytes.first, let last = bytes.last, alphanumeric(first), alphanumeric(last) else { return false }
        return bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// validation.RegexError, whose doubled spaces between examples are Kubernetes' own.
    private static func regexError(_ message: String, _ format: String, _ examples: [String]) -> String {
        let shown = examples.map { "'\($0)', " }.joined(separator: " or ")
        return "\(message) (e.g. \(shown)regex used for validation is '\(format)')"
    }

    /// Go's %q for the printable ASCII that keys and values are made of.
    static func goQuoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

// MARK: - Fields

/// A field selector with the semantics of k8s.io/apimachinery/pkg/fields: `key=value`,
/// `key==value`, `key!=value`, comma-separated and ANDed, `\` escaping `\`, `,` and `=` in
/// values. Values compare as strings, a missing field being "".
public struct FieldSelector: Sendable, Equatable, CustomStringConvertible {
    struct Term: Sendable, Equatable {
        var field: String
        var value: String
        var negated: Bool
    }

    /// In the order Kubernetes keeps them (terms sorted by their text), which decides both the
    /// canonical string and which bad term an error names.
    private(set) var terms: [Term] = []

    /// The selector that matches everything.
    public init() {}

    /// Parses the `fieldSelector=` query form, as fields.ParseSelector does.
    public init(parsing text: String) throws(SelectorError) {
        let parts = Self.splitTerms(text).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        for part in parts where !part.isEmpty {
            guard let (field, op, rawValue) = Self.splitTerm(part) else {
                throw SelectorError("invalid selector: '\(text)'; can't understand '\(part)'")
            }
            terms.append(Term(field: field, value: try Self.unescape(rawValue), negated: op == "!="))
        }
    }

    public var isEmpty: Bool { terms.isEmpty }

    /// Rejects fields that kube-apiserver's field label conversion for `resource` (a plural
    /// such as "pods") would reject, with its message.
    public func validate(resource: String) throws(SelectorError) {
        let supported = Self.supportedFields(resource)
        for term in terms where !supported.fields.contains(term.field) {
            if supported.registered {
                throw SelectorError("field label not supported: \(term.field)")
            }
            throw SelectorError("\"\(term.field)\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")
        }
    }

    public func matches(_ object: JSONValue) -> Bool {
        terms.allSatisfy { term in
            (Self.value(of: term.field, in: object) == term.value) != term.negated
        }
    }

    /// Kubernetes' canonical string (fields.Selector.String()), values escaped again.
    public var description: String {
        terms.map { "\($0.field)\($0.negated ? "!=" : "=")\(Self.escape($0.value))" }.joined(separator: ",")
    }

    /// The string a field compares as, taken from the object as the registries' field sets do.
    static func value(of field: String, in object: JSONValue) -> String {
        switch field {
        case "spec.host":
            // Old clients' name for spec.nodeName, which kube-apiserver still translates.
            return scalarText(object[path: ["spec", "nodeName"]]) ?? ""
        case "status.podIP":
            return scalarText(object[path: ["status", "podIP"]])
                ?? scalarText(object[path: ["status", "podIPs"]]?.arrayValue?.first?["ip"]) ?? ""
        case "source":
            return scalarText(object[path: ["source", "component"]]) ?? ""
        // Go prints these typed fields even when unset: false, 0.
        case "spec.unschedulable":
            return scalarText(object[path: ["spec", "unschedulable"]]) ?? "false"
        case "status.replicas":
            return scalarText(object[path: ["status", "replicas"]]) ?? "0"
        default:
            return scalarText(object[path: field.split(separator: ".").map(String.init)]) ?? ""
        }
    }

    private static func scalarText(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .double: return value!.text
        default: return nil
        }
    }

    /// The fields each kind's conversion function in kube-apiserver 1.20 accepts. Kinds with a
    /// function of their own word a refusal differently from those left to the default.
    private static func supportedFields(_ resource: String) -> (fields: Set<String>, registered: Bool) {
        switch resource {
        case "pods":
            return (["metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                     "spec.serviceAccountName", "status.phase", "status.podIP", "status.nominatedNodeName", "spec.host"], true)
        case "events":
            return (["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                     "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                     "reason", "reportingComponent", "source", "type", "metadata.namespace", "metadata.name"], true)
        // Cluster-scoped kinds have no metadata.namespace to select on.
        case "nodes":
            return (["metadata.name", "spec.unschedulable"], true)
        case "namespaces":
            return (["metadata.name", "status.phase"], true)
        case "secrets":
            return (["metadata.name", "metadata.namespace", "type"], true)
        case "replicasets":
            return (["metadata.name", "metadata.namespace", "status.replicas"], false)
        default:
            return (["metadata.name", "metadata.namespace"], false)
        }
    }

    // The operators and escapes are ASCII, which never occurs inside a multi-byte UTF-8
    // sequence, so working on bytes splits exactly where Go's rune loops do.

    /// Splits on commas that are not escaped; escapes stay for `unescape`.
    private static func splitTerms(_ text: String) -> [String] {
        if text.isEmpty { return [] }
        let bytes = Array(text.utf8)
        var terms: [String] = []
        var start = 0
        var escaped = false
        for (index, byte) in bytes.enumerated() {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: ",") {
                terms.append(String(decoding: bytes[start..<index], as: UTF8.self))
                start = index + 1
            }
        }
        terms.append(String(decoding: bytes[start...], as: UTF8.self))
        return terms
    }

    /// The first operator in the term splits it; "!=" and "==" are tried before "=" at each
    /// position so that no "=" is left on the value.
    private static func splitTerm(_ term: String) -> (String, String, String)? {
        let bytes = Array(term.utf8)
        for index in bytes.indices {
            for op in ["!=", "==", "="] where bytes[index...].starts(with: op.utf8) {
                return (String(decoding: bytes[..<index], as: UTF8.self), op,
                        String(decoding: bytes[(index + op.utf8.count)...], as: UTF8.self))
            }
        }
        return nil
    }

    private static func unescape(_ value: String) throws(SelectorError) -> String {
        var out = ""
        var escaped = false
        for scalar in value.unicodeScalars {
            if escaped {
                guard scalar == "\\" || scalar == "," || scalar == "=" else {
                    throw SelectorError("invalid field selector: invalid escape sequence: \\\(scalar)")
                }
                out.unicodeScalars.append(scalar)
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else if scalar == "," || scalar == "=" {
                throw SelectorError("invalid field selector: unescaped character in value: \(scalar)")
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        if escaped { throw SelectorError("invalid field selector: invalid escape sequence: \\") }
        return out
    }

    private static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            if character == "\\" || character == "," || character == "=" { out.append("\\") }
            out.append(character)
        }
        return out
    }
}
