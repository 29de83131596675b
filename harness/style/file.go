package style

import (
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// fileStyle is a style file as written. Routes may be v1 paths or v2
// request templates; resolve turns a fileStyle into a Style.
type fileStyle struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Routes      fileRoutes `yaml:"routes"`
	Fields      Fields     `yaml:"fields"`
	Token       Token      `yaml:"token"`
	Signals     Signals    `yaml:"signals"`
}

type fileRoutes struct {
	Login    fileRoute `yaml:"login"`
	Refresh  fileRoute `yaml:"refresh"`
	Verify   fileRoute `yaml:"verify"`
	Resource string    `yaml:"resource"`
}

// fileRoute is a route: a path (v1, "login: /auth/login") or a request
// template (v2):
//
//	login:
//	  path: /api/v1/member/login
//	  method: GET
//	  code: query:code          # where the wx.login code goes
//	  extra: {type: 100}        # fixed members sent along
type fileRoute struct {
	Path         string         `yaml:"path"`
	Method       string         `yaml:"method"`
	Code         string         `yaml:"code"`
	RefreshToken string         `yaml:"refresh_token"`
	AccessToken  string         `yaml:"access_token"`
	Extra        map[string]any `yaml:"extra"`
}

// UnmarshalYAML reads a path or a template (goccy/go-yaml NodeUnmarshaler:
// the node keeps its source position, so errors inside a template still
// name their line).
func (r *fileRoute) UnmarshalYAML(n ast.Node) error {
	switch v := n.(type) {
	case *ast.NullNode:
		return nil
	case *ast.StringNode:
		r.Path = v.Value
		return nil
	}
	type plain fileRoute // without this method
	var p plain
	if err := yaml.NodeToValue(n, &p, yaml.Strict()); err != nil {
		return err
	}
	*r = fileRoute(p)
	return nil
}
