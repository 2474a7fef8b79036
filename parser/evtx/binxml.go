package evtx

import "fmt"

// A Token is the byte that opens each item of binary XML ([MS-EVEN6]
// 2.2.13). Its low four bits say what the item is; bit 0x40 (TokenMore) is
// a flag some items carry.
type Token byte

// Binary XML tokens.
const (
	TokenEOF                  Token = 0x00 // end of a fragment
	TokenOpenStartElement     Token = 0x01 // an element; with TokenMore, it has attributes
	TokenCloseStartElement    Token = 0x02 // the end of an element's start tag: content follows
	TokenCloseEmptyElement    Token = 0x03 // the end of an element without content
	TokenEndElement           Token = 0x04 // the end of an element's content
	TokenValue                Token = 0x05 // literal text
	TokenAttribute            Token = 0x06 // an attribute; with TokenMore, another follows
	TokenCDATASection         Token = 0x07
	TokenCharRef              Token = 0x08 // a character reference, &#N;
	TokenEntityRef            Token = 0x09 // an entity reference, &name;
	TokenPITarget             Token = 0x0a // a processing instruction's target
	TokenPIData               Token = 0x0b // a processing instruction's data
	TokenTemplateInstance     Token = 0x0c // a template and the values of its substitutions
	TokenNormalSubstitution   Token = 0x0d // the place of a substitution value
	TokenOptionalSubstitution Token = 0x0e // the same, left out when the value is null
	TokenFragmentHeader       Token = 0x0f // the start of a fragment: version and flags follow

	TokenMore Token = 0x40 // flag: attributes or more data follow
)

// Base is the token without its flags.
func (t Token) Base() Token { return t & 0x0f }

// String names the token, with "|More" when it carries that flag; a byte
// that is no token is written in hex.
func (t Token) String() string {
	if t&^(0x0f|TokenMore) != 0 {
		return fmt.Sprintf("Token(0x%02x)", byte(t))
	}
	s := t.Base().name()
	if t&TokenMore != 0 {
		s += "|More"
	}
	return s
}

// name names a token without flags.
func (t Token) name() string {
	switch t {
	case TokenEOF:
		return "EOF"
	case TokenOpenStartElement:
		return "OpenStartElement"
	case TokenCloseStartElement:
		return "CloseStartElement"
	case TokenCloseEmptyElement:
		return "CloseEmptyElement"
	case TokenEndElement:
		return "EndElement"
	case TokenValue:
		return "Value"
	case TokenAttribute:
		return "Attribute"
	case TokenCDATASection:
		return "CDATASection"
	case TokenCharRef:
		return "CharRef"
	case TokenEntityRef:
		return "EntityRef"
	case TokenPITarget:
		return "PITarget"
	case TokenPIData:
		return "PIData"
	case TokenTemplateInstance:
		return "TemplateInstance"
	case TokenNormalSubstitution:
		return "NormalSubstitution"
	case TokenOptionalSubstitution:
		return "OptionalSubstitution"
	case TokenFragmentHeader:
		return "FragmentHeader"
	}
	return ""
}

// A ValueType is the type of a substitution value ([MS-EVEN6] 2.2.12), as
// its descriptor in a template instance gives it. TypeArray is a flag: a
// type with it is an array of the base type.
type ValueType byte

// Value types.
const (
	TypeNull       ValueType = 0x00
	TypeString     ValueType = 0x01 // UTF-16LE
	TypeANSIString ValueType = 0x02
	TypeInt8       ValueType = 0x03
	TypeUInt8      ValueType = 0x04
	TypeInt16      ValueType = 0x05
	TypeUInt16     ValueType = 0x06
	TypeInt32      ValueType = 0x07
	TypeUInt32     ValueType = 0x08
	TypeInt64      ValueType = 0x09
	TypeUInt64     ValueType = 0x0a
	TypeReal32     ValueType = 0x0b
	TypeReal64     ValueType = 0x0c
	TypeBool       ValueType = 0x0d // 32 bits
	TypeBinary     ValueType = 0x0e
	TypeGUID       ValueType = 0x0f
	TypeSizeT      ValueType = 0x10
	TypeFileTime   ValueType = 0x11 // 100 ns ticks since 1601
	TypeSysTime    ValueType = 0x12 // SYSTEMTIME
	TypeSID        ValueType = 0x13
	TypeHexInt32   ValueType = 0x14
	TypeHexInt64   ValueType = 0x15
	TypeEvtHandle  ValueType = 0x20
	TypeBinXML     ValueType = 0x21 // binary XML: a template instance of its own
	TypeEvtXML     ValueType = 0x23

	TypeArray       ValueType = 0x80                   // flag: an array of the base type
	TypeStringArray ValueType = TypeArray | TypeString // NUL-separated UTF-16LE strings
)

// String names the type, "Array" after it for an array; a byte that is no
// type is written in hex.
func (t ValueType) String() string {
	s := (t &^ TypeArray).name()
	if s == "" {
		return fmt.Sprintf("ValueType(0x%02x)", byte(t))
	}
	if t&TypeArray != 0 {
		s += "Array"
	}
	return s
}

// name names a type without flags; "" for a byte that is no type.
func (t ValueType) name() string {
	switch t {
	case TypeNull:
		return "Null"
	case TypeString:
		return "String"
	case TypeANSIString:
		return "ANSIString"
	case TypeInt8:
		return "Int8"
	case TypeUInt8:
		return "UInt8"
	case TypeInt16:
		return "Int16"
	case TypeUInt16:
		return "UInt16"
	case TypeInt32:
		return "Int32"
	case TypeUInt32:
		return "UInt32"
	case TypeInt64:
		return "Int64"
	case TypeUInt64:
		return "UInt64"
	case TypeReal32:
		return "Real32"
	case TypeReal64:
		return "Real64"
	case TypeBool:
		return "Bool"
	case TypeBinary:
		return "Binary"
	case TypeGUID:
		return "GUID"
	case TypeSizeT:
		return "SizeT"
	case TypeFileTime:
		return "FileTime"
	case TypeSysTime:
		return "SysTime"
	case TypeSID:
		return "SID"
	case TypeHexInt32:
		return "HexInt32"
	case TypeHexInt64:
		return "HexInt64"
	case TypeEvtHandle:
		return "EvtHandle"
	case TypeBinXML:
		return "BinXML"
	case TypeEvtXML:
		return "EvtXML"
	}
	return ""
}
