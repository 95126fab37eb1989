package api

import (
	"fmt"
	"slices"
	"strings"
)

// The catalogue of specialty codes (评标专家专业分类) the pool's experts
// and an evaluation's quotas use. It is a short built-in list: technical
// (A), economic (B: the 经济 experts a committee needs besides the
// technical ones) and goods and services (C) codes, enough for a city
// center's construction and procurement work; a center that needs more codes gets a configurable
// catalogue later. Codes are what the draw matches on, so a code once
// used by an expert must stay in the catalogue.

// Specialty is one code of the catalogue with its names.
type Specialty struct {
	Code   string `json:"code"`
	Name   string `json:"name"`    // Chinese, as the centers name it
	NameEn string `json:"name_en"` // English
}

// SpecialtyCategory groups the codes of one category.
type SpecialtyCategory struct {
	Code        string      `json:"code"`
	Name        string      `json:"name"`
	NameEn      string      `json:"name_en"`
	Specialties []Specialty `json:"specialties"`
}

// Specialties is the built-in catalogue, served at GET /api/v1/pool/specialties.
var Specialties = []SpecialtyCategory{
	{Code: "A", Name: "工程技术类", NameEn: "Engineering", Specialties: []Specialty{
		{"A01", "建筑工程", "Building works"},
		{"A02", "市政公用工程", "Municipal utilities"},
		{"A03", "水利水电工程", "Water conservancy and hydropower"},
		{"A04", "给排水工程", "Water supply and drainage"},
		{"A05", "电气工程", "Electrical works"},
		{"A06", "公路与桥梁工程", "Roads and bridges"},
		{"A07", "园林绿化工程", "Landscaping"},
	}},
	{Code: "B", Name: "经济类", NameEn: "Economics", Specialties: []Specialty{
		{"B01", "财务与会计", "Finance and accounting"},
		{"B02", "工程造价", "Cost engineering"},
		{"B03", "招标采购与合同", "Procurement and contracts"},
	}},
	{Code: "C", Name: "货物与服务类", NameEn: "Goods and services", Specialties: []Specialty{
		{"C01", "医疗设备", "Medical equipment"},
		{"C02", "机电设备", "Mechanical and electrical equipment"},
		{"C03", "信息技术", "Information technology"},
		{"C04", "工程监理与咨询", "Supervision and consulting"},
	}},
}

// specialtyCodes lists every code of the catalogue, in catalogue order.
func specialtyCodes() []string {
	var out []string
	for _, c := range Specialties {
		for _, s := range c.Specialties {
			out = append(out, s.Code)
		}
	}
	return out
}

// checkSpecialties refuses a code that is not in the catalogue, naming
// the valid ones.
func checkSpecialties(codes []string) error {
	valid := specialtyCodes()
	for _, code := range codes {
		if !slices.Contains(valid, code) {
			return fmt.Errorf("specialty code %q is not in the catalogue (valid: %s)", code, strings.Join(valid, ", "))
		}
	}
	return nil
}
