package lint

import (
	"net/url"
	"path/filepath"
)

// SARIF 2.1.0 (OASIS), the subset code-scanning services read: the tool
// with its rules, and results with a rule id, a level, a message and a
// file location. The field names are the format's.
type (
	SARIFLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []SARIFRun `json:"runs"`
	}
	SARIFRun struct {
		Tool    SARIFTool     `json:"tool"`
		Results []SARIFResult `json:"results"`
	}
	SARIFTool struct {
		Driver SARIFDriver `json:"driver"`
	}
	SARIFDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version,omitempty"`
		InformationURI string      `json:"informationUri"`
		Rules          []SARIFRule `json:"rules"`
	}
	SARIFRule struct {
		ID                   string        `json:"id"`
		ShortDescription     SARIFText     `json:"shortDescription"`
		DefaultConfiguration SARIFRuleConf `json:"defaultConfiguration"`
	}
	SARIFRuleConf struct {
		Level string `json:"level"`
	}
	SARIFText struct {
		Text string `json:"text"`
	}
	SARIFResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   SARIFText       `json:"message"`
		Locations []SARIFLocation `json:"locations"`
	}
	SARIFLocation struct {
		PhysicalLocation SARIFPhysical `json:"physicalLocation"`
	}
	SARIFPhysical struct {
		ArtifactLocation SARIFArtifact `json:"artifactLocation"`
		// Region is nil for a finding about the whole file (line 0):
		// SARIF lines start at 1.
		Region *SARIFRegion `json:"region,omitempty"`
	}
	SARIFArtifact struct {
		URI string `json:"uri"`
	}
	SARIFRegion struct {
		StartLine int `json:"startLine"`
	}
)

// sarifLevel maps a severity to SARIF's level.
var sarifLevel = map[string]string{SeverityError: "error", SeverityWarning: "warning", SeverityInfo: "note"}

// SARIF returns findings as a SARIF 2.1.0 log of one run of wsctl lint
// (version is wsctl's), with every rule of the catalog, so a finding's
// ruleIndex points into it. The fix goes into the message: SARIF's own
// fixes want replacement text, which lint does not compute. File names
// become relative URIs as given (absolute ones file:// URIs).
func SARIF(findings []Finding, version string) *SARIFLog {
	rules := Rules()
	index := map[string]int{}
	driver := SARIFDriver{Name: "wsctl lint", Version: version, InformationURI: "https://github.com/wsctl/wsctl/blob/main/lint/README.md"}
	for i, r := range rules {
		index[r.ID] = i
		driver.Rules = append(driver.Rules, SARIFRule{ID: r.ID, ShortDescription: SARIFText{r.Summary}, DefaultConfiguration: SARIFRuleConf{sarifLevel[r.Severity]}})
	}
	results := []SARIFResult{}
	for _, f := range findings {
		text := f.Message
		if f.Fix != "" {
			text += "\nFix: " + f.Fix
		}
		loc := SARIFPhysical{ArtifactLocation: SARIFArtifact{URI: sarifURI(f.File)}}
		if f.Line > 0 {
			loc.Region = &SARIFRegion{StartLine: f.Line}
		}
		results = append(results, SARIFResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel[f.Severity],
			Message: SARIFText{text}, Locations: []SARIFLocation{{PhysicalLocation: loc}}})
	}
	return &SARIFLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []SARIFRun{{Tool: SARIFTool{Driver: driver}, Results: results}},
	}
}

// sarifURI turns a file name into a URI reference: slashes, escaped, and
// file:// for an absolute path.
func sarifURI(name string) string {
	u := url.URL{Path: filepath.ToSlash(name)}
	if filepath.IsAbs(name) {
		u.Scheme = "file"
	}
	return u.String()
}
