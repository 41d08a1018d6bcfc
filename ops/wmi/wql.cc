#include "ops/wmi/wql.h"

#include <cctype>
#include <charconv>
#include <cstdint>

#include "ops/wmi/cim_reference.h"

namespace hvdisk::ops::wmi {
namespace {

Status Bad(std::string_view why) {
  return InvalidArgument("unsupported WQL: " + std::string(why) +
                         " (hvdisk takes SELECT * FROM Class [WHERE Prop = 'value' [AND ...]])");
}

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// A cursor over the query text; every step consumes at least one byte or fails.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }
  std::string Ident() {
    SkipSpace();
    const size_t start = pos_;
    if (pos_ < text_.size() && IsIdentStart(text_[pos_])) {
      while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }
  bool Char(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  // 'text', "text", an integer, TRUE or FALSE.
  Result<WqlCondition> Literal(WqlCondition cond) {
    SkipSpace();
    if (pos_ == text_.size()) return Bad("a condition has no value");
    const char q = text_[pos_];
    if (q == '\'' || q == '"') return Quoted(q, std::move(cond));
    const size_t start = pos_;
    if (text_[pos_] == '-' || text_[pos_] == '+') ++pos_;
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
    cond.value = std::string(text_.substr(start, pos_ - start));
    int64_t n = 0;
    auto [end, ec] = std::from_chars(cond.value.data(), cond.value.data() + cond.value.size(), n);
    const bool number = ec == std::errc() && end == cond.value.data() + cond.value.size();
    if (!number && !EqualsNoCase(cond.value, "TRUE") && !EqualsNoCase(cond.value, "FALSE")) {
      return Bad("value '" + cond.value + "' is neither quoted, a number, TRUE nor FALSE");
    }
    return cond;
  }

 private:
  Result<WqlCondition> Quoted(char q, WqlCondition cond) {
    for (++pos_; pos_ < text_.size(); ++pos_) {
      char c = text_[pos_];
      if (c == q) {
        ++pos_;
        cond.quoted = true;
        return cond;
      }
      if (c == '\\') {
        if (++pos_ == text_.size()) break;
        c = text_[pos_];
        if (c != '\\' && c != '\'' && c != '"') return Bad("unknown escape in a string");
      }
      cond.value.push_back(c);
    }
    return Bad("unterminated string");
  }

  std::string_view text_;
  size_t pos_ = 0;
};

Status CheckText(std::string_view text) {
  if (text.size() > kMaxWqlBytes) {
    return InvalidArgument("WQL query of " + std::to_string(text.size()) +
                           " bytes is longer than " + std::to_string(kMaxWqlBytes));
  }
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && !std::isspace(u)) return Bad("a control character");
  }
  return Status::Ok();
}

Status ParseWhere(Lexer& lex, WqlQuery* q) {
  do {
    if (q->where.size() == kMaxWqlConditions) {
      return Bad("more than " + std::to_string(kMaxWqlConditions) + " conditions");
    }
    WqlCondition cond;
    cond.property = lex.Ident();
    if (cond.property.empty()) return Bad("expected a property name after WHERE or AND");
    if (!lex.Char('=')) return Bad("only '=' compares (after " + cond.property + ")");
    ASSIGN_OR_RETURN(cond, lex.Literal(std::move(cond)));
    q->where.push_back(std::move(cond));
    if (lex.AtEnd()) return Status::Ok();
  } while (EqualsNoCase(lex.Ident(), "AND"));
  return Bad("conditions join with AND only");
}

bool ValueMatches(const CimProperty& p, const WqlCondition& c) {
  if (!p.value) return false;
  if (p.type == CimType::kUint16 || p.type == CimType::kUint32) {
    uint64_t want = 0;
    auto [end, ec] = std::from_chars(c.value.data(), c.value.data() + c.value.size(), want);
    if (ec != std::errc() || end != c.value.data() + c.value.size()) return false;
    return std::to_string(want) == *p.value;
  }
  return EqualsNoCase(*p.value, c.value);
}

}  // namespace

Result<WqlQuery> ParseWql(std::string_view text) {
  RETURN_IF_ERROR(CheckText(text));
  Lexer lex(text);
  if (!EqualsNoCase(lex.Ident(), "SELECT")) return Bad("expected SELECT");
  if (!lex.Char('*')) return Bad("only SELECT * is supported");
  if (!EqualsNoCase(lex.Ident(), "FROM")) return Bad("expected FROM after SELECT *");
  WqlQuery q;
  q.class_name = lex.Ident();
  if (q.class_name.empty()) return Bad("expected a class name after FROM");
  if (lex.AtEnd()) return q;
  if (!EqualsNoCase(lex.Ident(), "WHERE")) return Bad("expected WHERE after the class name");
  RETURN_IF_ERROR(ParseWhere(lex, &q));
  return q;
}

Status CheckWqlProperties(const WqlQuery& query, const CimInstance& schema) {
  for (const WqlCondition& c : query.where) {
    if (schema.Find(c.property) == nullptr) {
      return InvalidArgument(schema.class_name + " has no property " + c.property);
    }
  }
  return Status::Ok();
}

bool WqlMatches(const WqlQuery& query, const CimInstance& instance) {
  for (const WqlCondition& c : query.where) {
    const CimProperty* p = instance.Find(c.property);
    if (p == nullptr || !ValueMatches(*p, c)) return false;
  }
  return true;
}

}  // namespace hvdisk::ops::wmi
